"""Rendering: a template and a message's facts become a finished email (subject, HTML
and plain text, tracked links). `render` is the entry point: sandboxed Jinja2 -> MJML ->
HTML -> UTM-tagged, click-tracked links -> plain-text part, for the recipient's locale
(`context`, `locale`, `links`, `mjml`, `plaintext`); `previews` renders for a look
without sending; `template_library` is the shipped templates. What makes 1,000 emails
a second is in `compiled`, which the plain render checks and can replace entirely
(AFTERSALE_COMPILED_EMAILS=false)."""
