"""Streams API. Going live itself arrives with the channel and broadcast models."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_go_live_eligibility


class StreamEligibilityApi(APIView):
    """Whether the caller may go live now, and why not."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        eligible = serializers.BooleanField()
        follower_count = serializers.IntegerField()
        required = serializers.IntegerField()
        reason = serializers.CharField()
        code = serializers.CharField()
        exempt = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        eligibility = user_go_live_eligibility(user=request.user)
        return Response(self.OutputSerializer(eligibility.as_dict()).data)
