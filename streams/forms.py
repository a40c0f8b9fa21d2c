from django import forms

from streams.models import Category, Visibility


class StreamForm(forms.Form):
    title = forms.CharField(max_length=140, required=False)
    description = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    category = forms.ModelChoiceField(
        queryset=Category.objects.filter(is_active=True), required=False, to_field_name="slug"
    )
    tags = forms.CharField(
        max_length=300, required=False, help_text="Comma-separated, up to 10 (e.g. speedrun, chill)."
    )
    visibility = forms.ChoiceField(choices=Visibility.choices, initial=Visibility.PUBLIC)
    scheduled_for = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty to go live whenever OBS connects.",
    )
    record = forms.BooleanField(required=False, initial=True, label="Record this broadcast")
    dvr_enabled = forms.BooleanField(required=False, initial=True, label="Let viewers rewind (DVR)")
    dvr_window_seconds = forms.IntegerField(
        required=False,
        min_value=30,
        label="Rewind window (seconds)",
        help_text="How far back viewers may rewind; empty: the site's limit.",
    )
    low_latency = forms.BooleanField(required=False, label="Low latency (1-second segments)")
    source_passthrough = forms.BooleanField(
        required=False, label="Offer the source quality as is (no re-encode of the top rung)"
    )

    def clean_tags(self):
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]

    @classmethod
    def for_stream(cls, stream, data=None):
        if stream is None:
            return cls(data)
        initial = {
            "title": stream.title,
            "description": stream.description,
            "category": stream.category.slug if stream.category else None,
            "tags": ", ".join(stream.tags),
            "visibility": stream.visibility,
            "scheduled_for": stream.scheduled_for,
            "record": stream.record,
            "dvr_enabled": stream.dvr_enabled,
            "dvr_window_seconds": stream.dvr_window_seconds,
            "low_latency": stream.low_latency,
            "source_passthrough": stream.source_passthrough,
        }
        form = cls(data, initial=initial)
        if stream.is_live:  # the transcoder read them when the broadcast went live
            for name in ("record", "dvr_enabled", "dvr_window_seconds", "low_latency", "source_passthrough"):
                form.fields[name].disabled = True
                form.fields[name].help_text = "Fixed while live; applies from the next broadcast."
        return form


class ChannelMediaForm(forms.Form):
    """What a channel keeps of its broadcasts: clips, and how long recordings stay."""

    clips_enabled = forms.BooleanField(required=False, label="Let viewers cut clips")
    recording_retention_days = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=3650,
        label="Keep recordings for (days)",
        help_text="0 keeps them forever; empty: the site's default.",
    )

    @classmethod
    def for_channel(cls, channel, data=None):
        initial = {
            "clips_enabled": channel.clips_enabled,
            "recording_retention_days": channel.recording_retention_days,
        }
        return cls(data, initial=initial)
