"""Handing emails over: the send loop (`sending`), the transports (SMTP pipelined to a
relay, or an email service through django-anymail) and the local capture server the
demo and the tests send to (`capture`). The bytes of each email come from
messaging.mime."""
