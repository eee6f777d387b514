from aftersale.lib.text import has_unprintable, multi_line_text, single_line_text


def test_line_breaks_and_tabs_become_one_space():
    assert single_line_text("Oat\r\n\tMilk") == "Oat Milk"


def test_control_characters_and_noncharacters_are_removed():
    assert single_line_text("A\x00B\x01C\x1bD\ufffeE\uffffF\ud800G\x7fH\x9bI") == "ABCDEFGHI"


def test_plain_and_international_text_is_kept_as_it_is():
    for text in ("Crème brûlée", "緑茶 200g", "Ünïcödé 🍵", "a \u2013 b"):
        assert single_line_text(text) == text
        assert not has_unprintable(text)


def test_has_unprintable_sees_what_single_line_text_drops():
    assert has_unprintable("name\x0b")
    assert has_unprintable("\U0010fffe")


def test_a_multi_line_text_keeps_its_lines_and_loses_its_control_characters():
    assert multi_line_text("\nAda\x00 Lovelace\r\n12\x1b\tRoad\rLondon\n\n") == (
        "Ada Lovelace\n12 Road\nLondon"
    )
