from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile

from accounts import selectors, services
from accounts.errors import AccountError
from accounts.models import Follow, User, Webhook, WebhookDelivery


class UserAdminForm(UserChangeForm):
    def clean_avatar(self):
        """An avatar uploaded here is re-encoded like one from the profile page (S-18):
        metadata dropped, size capped, the format checked."""
        avatar = self.cleaned_data.get("avatar")
        if isinstance(avatar, UploadedFile):
            try:
                return services.avatar_normalize(avatar)
            except AccountError as exc:
                raise forms.ValidationError(exc.message.removeprefix("avatar: ")) from exc
        return avatar


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserAdminForm
    list_display = (
        "username",
        "display_name",
        "email",
        "follower_count",
        "is_active",
        "go_live_exempt",
        "is_staff",
        "date_joined",
    )
    list_filter = ("is_active", "go_live_exempt", "is_staff", "is_superuser", "groups")
    search_fields = ("username", "email", "display_name")
    ordering = ("-date_joined",)
    show_full_result_count = False
    actions = ("ban_users", "unban_users", "exempt_from_threshold", "remove_exemption")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Profile", {"fields": ("display_name", "bio", "avatar", "email_notifications")}),
        ("Moderation", {"fields": ("go_live_exempt", "ban_reason", "banned_at")}),
    )
    readonly_fields = ("banned_at", "last_login", "date_joined")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(follower_count=selectors._follow_count("followee"))

    @admin.display(ordering="follower_count", description="followers")
    def follower_count(self, user):
        return user.follower_count

    # Moderators (staff without superuser) may edit profiles, ban and exempt through the
    # actions, and nothing that grants power or takes over an account.
    MODERATOR_READONLY = (
        "username",
        "email",
        "password",
        "is_active",
        "is_staff",
        "is_superuser",
        "groups",
        "user_permissions",
    )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += self.MODERATOR_READONLY
        return fields

    def has_change_permission(self, request, obj=None):
        if obj is not None and not request.user.is_superuser and (obj.is_staff or obj.is_superuser):
            return False  # staff accounts are managed by superusers only
        return super().has_change_permission(request, obj)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied("Only a superuser can set another user's password.")
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Ban selected users (suspend platform-wide)")
    def ban_users(self, request, queryset):
        done = 0
        for user in queryset:
            try:
                services.user_ban(
                    user=user, by=request.user, reason=f"Banned by {request.user.username} in the admin."
                )
                done += 1
            except AccountError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Banned {done} user(s).", messages.SUCCESS)

    @admin.action(description="Unban selected users")
    def unban_users(self, request, queryset):
        count = 0
        for user in queryset:
            try:
                services.user_unban(user=user, by=request.user)
                count += 1
            except AccountError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Unbanned {count} user(s).", messages.SUCCESS)

    @admin.action(description="Exempt from the go-live follower threshold")
    def exempt_from_threshold(self, request, queryset):
        self._set_exempt(request, queryset, exempt=True)

    @admin.action(description="Remove the go-live exemption")
    def remove_exemption(self, request, queryset):
        self._set_exempt(request, queryset, exempt=False)

    def _set_exempt(self, request, queryset, *, exempt: bool) -> None:
        count = 0
        for user in queryset:
            try:
                services.user_set_go_live_exempt(user=user, exempt=exempt, by=request.user)
                count += 1
            except AccountError as exc:
                self.message_user(request, f"{user.username}: {exc.message}", messages.ERROR)
        verb = "granted to" if exempt else "removed from"
        self.message_user(request, f"Exemption {verb} {count} user(s).", messages.SUCCESS)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ("follower", "followee", "created_at")
    list_select_related = ("follower", "followee")
    search_fields = ("follower__username", "followee__username")
    raw_id_fields = ("follower", "followee")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-created_at",)


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Webhook)
class WebhookAdmin(_ReadOnlyAdmin):
    """Read-only for staff: who sends where (the signing secret is its owner's alone)."""

    list_display = ["url", "owner", "events", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["owner__username", "url"]
    fields = ["owner", "url", "events", "created_at"]
    readonly_fields = fields
    show_full_result_count = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "event", "webhook", "status", "attempts", "response_code", "error"]
    list_filter = ["status", "event"]
    list_select_related = ["webhook"]
    fields = [*list_display[:-1], "error", "response_body", "duration_ms", "last_attempt_at", "payload"]
    readonly_fields = fields
    show_full_result_count = False
