"""The plain-text part derived from HTML."""

from aftersale.messaging.rendering.plaintext import html_to_text


def test_text_keeps_paragraphs_headings_and_line_breaks() -> None:
    html = "<h1>Hello</h1><p>First line<br>second line</p><p>Next   paragraph</p>"
    assert html_to_text(html) == "Hello\n\nFirst line\nsecond line\n\nNext paragraph\n"


def test_links_are_written_as_text_then_url() -> None:
    html = '<p>See <a href="https://shop.example.com/x">our shop</a> now</p>'
    assert html_to_text(html) == "See our shop (https://shop.example.com/x) now\n"


def test_head_style_script_and_hidden_elements_are_left_out() -> None:
    html = (
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        '<div style="display:none">preheader</div><script>x()</script><p>Body</p>'
        '<a href="https://x.example/"><img src="i.png" alt="pic"></a></body></html>'
    )
    assert html_to_text(html) == "Body\n"


def test_struck_through_prices_read_as_was() -> None:
    assert html_to_text("<p>$4.25 <s>$5.00</s></p>") == "$4.25 (was $5.00)\n"
