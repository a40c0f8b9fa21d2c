"""Moderators review recordings and clips in the admin: finalize again, delete files."""

import pytest
from django.core.files.storage import storages

from dvr import clips
from dvr.models import Clip, Recording

pytestmark = pytest.mark.django_db


def test_a_moderator_lists_finalizes_again_and_deletes_files(client, bob, recorded):
    recording = Recording.objects.get(stream=recorded)
    client.force_login(bob)
    listing = client.get("/admin/dvr/recording/").content.decode()
    assert recording.title in listing and "alice" in listing
    response = client.post(
        "/admin/dvr/recording/", {"action": "finalize_again", "_selected_action": [recording.pk]}, follow=True
    )
    assert "Finalized 1 recording(s)." in response.content.decode()
    response = client.post(
        "/admin/dvr/recording/", {"action": "delete_files", "_selected_action": [recording.pk]}, follow=True
    )
    assert "Deleted the files of 1 recording(s)." in response.content.decode()
    recording.refresh_from_db()
    assert recording.files_deleted_at is not None and not storages["live"].exists(recording.mp4_path)


def test_a_moderator_deletes_a_clip_and_its_files(
    client, bob, carol, recorded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=recorded, by=carol, seconds=5)
    clip = clips.clip_make(clip_id=clip.pk)
    client.force_login(bob)
    assert clip.title in client.get("/admin/dvr/clip/").content.decode()
    client.post(f"/admin/dvr/clip/{clip.pk}/delete/", {"post": "yes"})
    assert not Clip.objects.filter(pk=clip.pk).exists() and not storages["live"].exists(clip.mp4_path)


def test_recordings_are_searched_by_title_and_owner_and_hidden_from_non_staff(client, bob, carol, recorded):
    recording = Recording.objects.get(stream=recorded)
    client.force_login(carol)
    assert client.get("/admin/dvr/recording/").status_code == 302  # to the admin's log-in
    client.force_login(bob)
    for query, found in (("alice", True), (recording.title[:5], True), ("nobody", False)):
        listing = client.get("/admin/dvr/recording/", {"q": query}).content.decode()
        assert (f"/admin/dvr/recording/{recording.pk}/change/" in listing) is found
    assert client.get("/admin/dvr/recording/add/").status_code == 403
    assert client.get("/admin/dvr/clip/add/").status_code == 403


def test_deleting_a_recording_in_the_admin_deletes_its_files(client, django_user_model, recorded):
    recording = Recording.objects.get(stream=recorded)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    client.post(f"/admin/dvr/recording/{recording.pk}/delete/", {"post": "yes"})
    assert not Recording.objects.filter(pk=recording.pk).exists()
    assert not storages["live"].exists(recording.mp4_path)
    assert not storages["live"].exists(recording.playlist_path)


def test_a_recording_still_being_written_cannot_be_deleted_in_the_admin(client, django_user_model, go_live):
    stream = go_live()
    recording = Recording.objects.get(stream=stream)
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "x"))
    assert client.get(f"/admin/dvr/recording/{recording.pk}/delete/").status_code == 403
