"""BENCHMARKS.md: each benchmark command rewrites its own section and keeps the rest."""
from playground.bench.report import write_section

BEGIN = "<!-- begin {}: generated, do not edit -->\n"
END = "\n<!-- end {} -->"


def section(name: str, text: str) -> str:
    return BEGIN.format(name) + text + END.format(name)


def test_a_section_is_added_then_replaced_and_the_rest_is_kept(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written summary.\n")
    write_section(path, "training", "| a | 1 |")
    write_section(path, "ui", "| startup | 5 s |")
    path.write_text(path.read_text() + "\n## Profiles\n\nwhere the time goes\n")
    write_section(path, "training", "| a | 2 |\n| b | 3 |")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written summary.\n")
    assert section("training", "| a | 2 |\n| b | 3 |") in text
    assert section("ui", "| startup | 5 s |") in text
    assert "| a | 1 |" not in text and text.rstrip().endswith("where the time goes")
    assert text.index("| a | 2 |") < text.index("| startup") < text.index("## Profiles")


def test_a_missing_file_is_created_with_just_the_section(tmp_path):
    path = tmp_path / "new.md"
    assert not path.exists()
    write_section(path, "ui", "text")
    assert path.read_text() == section("ui", "text") + "\n"
