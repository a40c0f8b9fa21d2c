from django.contrib import admin, messages

from chat import moderation
from chat.errors import ChatError
from chat.models import ChannelModerator, ChatBan, ChatMessage, ChatSettings, ModerationAction


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "stream", "user", "content", "deleted_at", "pinned_at")
    list_select_related = ("stream", "user")
    list_filter = ("deleted_at",)
    search_fields = ("user__username", "stream__id")  # indexed columns only: the table is big
    raw_id_fields = ("stream", "user")
    readonly_fields = ("stream", "user", "content", "created_at")
    show_full_result_count = False
    date_hierarchy = "created_at"
    ordering = ("-id",)
    actions = ["delete_for_everyone"]

    @admin.action(description="Delete for everyone (hide from chat and history)", permissions=["change"])
    def delete_for_everyone(self, request, queryset):
        """As a moderator deletes in chat: recorded, and gone from every open chat at once."""
        count = 0
        for message in queryset.filter(deleted_at__isnull=True).select_related("stream"):
            try:
                moderation.message_delete(stream=message.stream, by=request.user, message_id=message.pk)
                count += 1
            except ChatError as exc:
                self.message_user(request, f"Message {message.pk}: {exc.message}", messages.ERROR)
        self.message_user(request, f"Deleted {count} message(s).", messages.SUCCESS)


@admin.register(ChatBan)
class ChatBanAdmin(admin.ModelAdmin):
    list_display = ("user", "channel", "until", "reason", "created_by", "created_at")
    list_select_related = ("user", "channel__user", "created_by")
    search_fields = ("user__username", "channel__user__username")
    raw_id_fields = ("user", "channel", "created_by")


@admin.register(ChannelModerator)
class ChannelModeratorAdmin(admin.ModelAdmin):
    list_display = ("user", "channel", "created_at")
    list_select_related = ("user", "channel__user")
    search_fields = ("user__username", "channel__user__username")
    raw_id_fields = ("user", "channel")


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "actor", "target_user", "channel", "stream")
    list_filter = ("kind",)
    list_select_related = ("actor", "target_user", "channel__user", "stream")
    search_fields = ("actor__username", "target_user__username")
    show_full_result_count = False
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ChatSettings)
class ChatSettingsAdmin(admin.ModelAdmin):
    list_display = ("channel", "slow_mode_seconds", "followers_only", "follow_min_minutes", "emote_only")
    list_select_related = ("channel__user",)
    search_fields = ("channel__user__username",)
    raw_id_fields = ("channel",)
