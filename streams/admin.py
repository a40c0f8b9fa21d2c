from django.contrib import admin, messages

from streams import services
from streams.errors import StreamError
from streams.models import Category, Channel, Stream, StreamEvent


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "is_active")
    list_editable = ("position", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


class StreamEventInline(admin.TabularInline):
    model = StreamEvent
    fields = ("created_at", "type", "severity", "message", "details")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at",)
    max_num = 0
    show_change_link = False


@admin.register(Stream)
class StreamAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "owner",
        "status",
        "category",
        "visibility",
        "viewer_count",
        "started_at",
        "ended_at",
    )
    list_filter = ("status", "category", "visibility")
    list_select_related = ("owner", "category")
    search_fields = ("id", "title", "owner__username")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-created_at",)
    raw_id_fields = ("owner", "channel")
    # Lifecycle fields change only through the hooks and the End action, never by hand.
    readonly_fields = (
        "id",
        "owner",
        "channel",
        "status",
        "started_at",
        "ended_at",
        "end_reason",
        "viewer_count",
        "peak_viewer_count",
        "media_server",
        "publisher_client_id",
        "publisher_ip",
        "last_seen_at",
        "hls_ready_at",
        "thumbnail_updated_at",
        "created_at",
        "updated_at",
    )
    inlines = [StreamEventInline]
    actions = ["end_broadcast"]

    def has_add_permission(self, request):
        return False  # broadcasts are created by streamers

    def save_model(self, request, obj, form, change):
        # Through the service, as the API and the dashboard do: the edit is recorded as an
        # event and viewers of a live broadcast see it at once. Only what the form changed:
        # the service re-reads the row, so a stale status is never written back.
        if not form.changed_data:
            return
        try:
            services.stream_update(
                stream=obj, moderating=True, **{name: form.cleaned_data[name] for name in form.changed_data}
            )
        except StreamError as exc:
            self.message_user(request, f"Not saved: {exc.message}", messages.ERROR)

    @admin.action(description="End broadcast (drops the publisher)", permissions=["change"])
    def end_broadcast(self, request, queryset):
        ended = 0
        for stream in queryset.select_related("owner"):
            if stream.is_over:
                continue
            services.stream_end(stream=stream, by=request.user)
            ended += 1
        self.message_user(request, f"Ended {ended} broadcast(s).", messages.SUCCESS)


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    # The stream key is the owner's secret: never shown here, only rotated.
    list_display = ("user", "default_title", "default_category", "key_rotated_at", "created_at")
    list_select_related = ("user", "default_category")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
    exclude = ("key_secret",)
    readonly_fields = ("user", "key_rotated_at", "created_at")
    show_full_result_count = False
    actions = ["rotate_key"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Rotate stream key (ends a live broadcast)", permissions=["change"])
    def rotate_key(self, request, queryset):
        for channel in queryset:
            services.channel_rotate_key(channel=channel, by=request.user)
        self.message_user(request, f"Rotated {queryset.count()} key(s).", messages.SUCCESS)


@admin.register(StreamEvent)
class StreamEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "type", "severity", "stream", "channel", "message")
    list_filter = ("type", "severity")
    list_select_related = ("stream", "channel__user")
    search_fields = ("message", "stream__id", "channel__user__username")
    raw_id_fields = ("stream", "channel")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-created_at",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
