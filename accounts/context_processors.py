from accounts.selectors import notifications_unread_count


def notifications(request):
    # Lazy: counted only when a template shows it (one indexed COUNT).
    user = getattr(request, "user", None)  # absent on error pages raised before auth middleware
    if user is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": lambda: notifications_unread_count(user=user)}
