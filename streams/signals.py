"""What the broadcast lifecycle tells apps above streams (dvr), which streams may not import.

Both are sent inside the transaction that changed the broadcast; a receiver that starts
work elsewhere (a Celery task) does it on commit.
"""

from django.dispatch import Signal

# A broadcast went live: kwargs stream.
broadcast_started = Signal()
# A live broadcast ended or failed: kwargs stream.
broadcast_ended = Signal()
# A broadcast's files moved from its public place to its private one (S-04): kwargs stream,
# public and private (the two prefixes, `live/<id>/<token>` and `private/<id>/<token>`).
# Sent by the move's task, outside any transaction; names stored elsewhere follow.
media_moved_private = Signal()
