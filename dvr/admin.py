"""Recordings and clips for moderators: status, size, retention; finalize again, delete files."""

from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from dvr import clips, services
from dvr.errors import DvrError
from dvr.models import Clip, Recording


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "owner",
        "status",
        "size",
        "duration_seconds",
        "views",
        "kept",
        "retention_until",
        "files_deleted_at",
    )
    list_filter = ("status", "kept")
    list_select_related = ("stream__owner",)
    search_fields = ("title", "stream__owner__username", "stream__id")
    show_full_result_count = False
    ordering = ("-started_at",)
    fields = (
        "stream",
        "title",
        "status",
        "reason",
        "started_at",
        "ended_at",
        "duration_seconds",
        "size_bytes",
        "playlist_path",
        "mp4_path",
        "thumbnail_path",
        "views",
        "visibility",
        "kept",
        "retention_until",
        "files_deleted_at",
    )
    # Files and status change only through finalizing and retention, never by hand.
    readonly_fields = tuple(f for f in fields if f not in ("title", "visibility", "kept"))
    actions = ("finalize_again", "delete_files")

    @admin.display(ordering="stream__owner__username")
    def owner(self, recording):
        return recording.stream.owner

    @admin.display(ordering="size_bytes")
    def size(self, recording):
        return filesizeformat(recording.size_bytes)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.stream.is_live:
            return False  # still being written; end the broadcast first
        return super().has_delete_permission(request, obj)

    # Deleting the row must not leave its files behind in storage.
    def delete_model(self, request, recording):
        services.recording_delete(recording=recording)

    def delete_queryset(self, request, queryset):
        for recording in queryset.select_related("stream"):
            try:
                services.recording_delete(recording=recording)
            except DvrError as exc:
                self.message_user(request, f"{recording.title}: {exc.message}", messages.WARNING)

    @admin.action(description="Finalize again (playlists, MP4, thumbnail)", permissions=["change"])
    def finalize_again(self, request, queryset):
        results = [
            services.recording_finalize(recording=r, again=True)
            for r in queryset
            if r.files_deleted_at is None
        ]
        failed = [r for r in results if r.status != Recording.Status.READY]
        self.message_user(request, f"Finalized {len(results) - len(failed)} recording(s).")
        for recording in failed:
            self.message_user(request, f"{recording.title}: {recording.reason}", messages.WARNING)

    @admin.action(description="Delete files (the row stays, marked expired)", permissions=["change"])
    def delete_files(self, request, queryset):
        count = 0
        for recording in queryset.filter(files_deleted_at__isnull=True).select_related("stream"):
            services.recording_expire(recording=recording)
            count += 1
        self.message_user(request, f"Deleted the files of {count} recording(s).")


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ("title", "stream", "creator", "status", "size", "duration_seconds", "views", "created_at")
    list_filter = ("status",)
    list_select_related = ("stream", "creator")
    search_fields = ("title", "creator__username", "stream__id")
    show_full_result_count = False
    ordering = ("-created_at",)
    readonly_fields = (
        "stream",
        "recording",
        "creator",
        "title",
        "status",
        "reason",
        "starts_at",
        "seconds",
        "duration_seconds",
        "mp4_path",
        "thumbnail_path",
        "size_bytes",
        "views",
    )

    @admin.display(ordering="size_bytes")
    def size(self, clip):
        return filesizeformat(clip.size_bytes)

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, clip):
        clips.clip_delete(clip=clip, by=request.user)  # its files too

    def delete_queryset(self, request, queryset):
        for clip in queryset.select_related("stream"):
            clips.clip_delete(clip=clip, by=request.user)
