"""BENCHMARKS.md: each benchmark command rewrites its own section and keeps the rest."""
from playground.bench.report import read_section, write_section


def test_a_section_is_added_then_replaced_and_the_rest_is_kept(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nHand-written summary.\n")
    write_section(path, "training", "| a | 1 |")
    write_section(path, "ui", "| startup | 5 s |")
    path.write_text(path.read_text() + "\n## Profiles\n\nwhere the time goes\n")
    write_section(path, "training", "| a | 2 |\n| b | 3 |")
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nHand-written summary.\n")
    assert read_section(path, "training") == "| a | 2 |\n| b | 3 |"
    assert read_section(path, "ui") == "| startup | 5 s |"
    assert "| a | 1 |" not in text and text.rstrip().endswith("where the time goes")
    assert text.index("| a | 2 |") < text.index("| startup") < text.index("## Profiles")


def test_a_missing_file_is_created_and_a_missing_section_reads_as_none(tmp_path):
    path = tmp_path / "new.md"
    assert read_section(path, "ui") is None
    write_section(path, "ui", "text")
    assert read_section(path, "ui") == "text" and read_section(path, "training") is None
