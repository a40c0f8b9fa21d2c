"""Clips inherit their broadcast's visibility when they are cut (S-04): existing clips take
their broadcast's (or their recording's) visibility now. Their files stay where they are."""

from django.db import migrations, models


def inherit(apps, schema_editor):
    Clip = apps.get_model("dvr", "Clip")
    for clip in Clip.objects.select_related("stream", "recording").iterator():
        recording_visibility = clip.recording.visibility if clip.recording_id else ""
        clip.visibility = recording_visibility or clip.stream.visibility
        clip.save(update_fields=["visibility"])


class Migration(migrations.Migration):
    dependencies = [
        ("dvr", "0001_recordings_and_clips"),
    ]

    operations = [
        migrations.AddField(
            model_name="clip",
            name="visibility",
            field=models.CharField(
                choices=[
                    ("public", "Public"),
                    ("unlisted", "Unlisted (anyone with the link)"),
                    ("followers", "Followers only"),
                ],
                default="public",
                max_length=10,
            ),
        ),
        migrations.RunPython(inherit, migrations.RunPython.noop),
    ]
