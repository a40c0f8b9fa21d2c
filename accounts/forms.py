from django import forms

from accounts.models import BIO_MAX_LENGTH, DISPLAY_NAME_MAX_LENGTH, WebhookEvent
from socialflow.lib import outbound


class ProfileForm(forms.Form):
    # A plain Form, not a ModelForm: validation must not change request.user before the
    # service has accepted the edit.
    display_name = forms.CharField(max_length=DISPLAY_NAME_MAX_LENGTH, required=False)
    bio = forms.CharField(
        max_length=BIO_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=f"Up to {BIO_MAX_LENGTH} characters.",
    )
    avatar = forms.ImageField(required=False, widget=forms.FileInput(attrs={"accept": "image/*"}))
    remove_avatar = forms.BooleanField(required=False, label="Remove my avatar")
    email_notifications = forms.BooleanField(
        required=False, label="E-mail me when a channel I follow goes live"
    )

    @classmethod
    def for_user(cls, user, data=None, files=None):
        initial = {
            "display_name": user.display_name,
            "bio": user.bio,
            "email_notifications": user.email_notifications,
        }
        return cls(data, files, initial=initial)


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=outbound.MAX_URL_LENGTH,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/socialflow-hook"}),
    )
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[WebhookEvent.STREAM_STARTED, WebhookEvent.STREAM_ENDED],
        error_messages={"required": "Choose at least one event."},
    )
