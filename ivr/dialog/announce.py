"""AGI route `announcement`: name the carrier announcement a failed call's early media carried.

The dial wrapper (`[huifang-dial]`) runs it on the Local ;2 channel right after a Dial that got 183
Session Progress and then failed, with the early-media recording (MixMonitor of the trunk
channel's read direction, raw 8 kHz slin) as its argument. We wait for MixMonitor to close the
file, try the lender's learned library (announcement_library.py: recordings a supervisor labelled),
then the shipped references (every locale) and, if neither is confident and a Vosk model exists for
the call's locale, speech recognition plus keywords. The answer goes back as channel variables
that the dialplan puts into its HuifangDial UserEvent, where the controller reads it:

    IVR_ANNOUNCEMENT        empty_number | powered_off | suspended | unreachable | busy | (empty)
    IVR_ANNOUNCEMENT_VIA    library | fingerprint | speech | none
    IVR_ANNOUNCEMENT_SCORE  library: the cluster id; fingerprint: its distance (lower is closer)
    IVR_EARLY_MEDIA         seconds of early media heard

Nothing here can hold a call up for long: the recognizers run in threads, the whole route is
bounded by ROUTE_BUDGET_S, and any failure leaves the variables empty (the outcome then comes
from the SIP code alone, as before).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from .. import redact
from ..asterisk import media
from ..dialer import announcement_library, announcements
from .agi import AgiSession, CallHungUp
from .answer_screen import Heard
from .speech import NoModel, recognize_pcm

log = logging.getLogger(__name__)
ROUTE_BUDGET_S = 4.0
MAX_SECONDS = 30.0        # recognise the first 30 s: announcements repeat


def host_path(settings, path: str) -> Path:
    """The recording as this process sees it (Asterisk names it in its own view of the media directory)."""
    return media.to_host(settings, path)


def from_library(settings, samples) -> announcements.Match | None:
    """The lender's labelled recordings (a match labelled "not an announcement" is an answer too)."""
    try:
        found = announcement_library.current(settings).match(samples)
    except Exception:
        log.exception("announcement library unavailable")
        return None
    if found is None:
        return None
    return announcements.Match(found.reason, "library", float(found.cluster_id),
                               round(found.comparison.coverage, 3), seconds=len(samples) / announcements.SAMPLE_RATE)


def recognize_answered(settings, locale: str, samples) -> Heard | None:
    """Blocking, for the after-answer screen: the learned library, then the shipped references (no
    speech recognition: it is slower than the screen may take)."""
    learned = from_library(settings, samples)
    seconds = len(samples) / announcements.SAMPLE_RATE
    if learned is not None:
        return Heard(learned.reason, "library", seconds)
    fp = announcements.fingerprinter(Path(settings.cache_dir) / "tts", Path(settings.cache_dir) / "announcements")
    match = fp.match(samples, locale if locale in announcements.STANDARD_TEXTS else None)
    return Heard(match.reason, "fingerprint", seconds) if match.reason else None


def recognize(settings, speech, path: Path, locale: str) -> announcements.Match:
    """Blocking: the learned library, then the shipped fingerprints, then Vosk + keywords when a model
    exists for the locale."""
    if not announcements.wait_complete(path):
        return announcements.Match(None, "none")
    samples = announcements.read_audio(path)[: int(MAX_SECONDS * announcements.SAMPLE_RATE)]
    learned = from_library(settings, samples)
    if learned is not None:
        return learned
    fp = announcements.fingerprinter(Path(settings.cache_dir) / "tts",
                                     Path(settings.cache_dir) / "announcements")
    match = fp.match(samples, locale if locale in announcements.STANDARD_TEXTS else None)
    if match.reason is not None or speech is None or not speech.available(locale):
        return match
    try:
        pcm = samples.astype("<i2").tobytes()
        rec = recognize_pcm(speech, locale, None, pcm)
    except NoModel:
        return match
    reason = announcements.reason_from_text(rec.text, locale)
    if reason is not None:
        return announcements.Match(reason, "speech", match.score, match.margin, text=rec.text,
                                   seconds=match.seconds, scores=match.scores)
    match.text = rec.text
    return match


class AnnouncementRoute:
    def __init__(self, server):
        self.server = server
        self.settings = server.settings

    async def __call__(self, agi: AgiSession) -> None:
        attempt = (await agi.get_variable("IVR_ATTEMPT")) or ""
        locale = (await agi.get_variable("IVR_LOCALE")) or self.settings.default_locale
        args = agi.args
        if not args:
            log.warning("call %s: announcement route without a recording", attempt)
            return
        path = host_path(self.settings, args[0])
        loop = asyncio.get_running_loop()
        try:
            match = await asyncio.wait_for(
                loop.run_in_executor(None, recognize, self.settings, self.server.speech,
                                     path, locale), ROUTE_BUDGET_S)
        except asyncio.TimeoutError:
            log.warning("call %s: announcement not recognized within %.0f s", attempt, ROUTE_BUDGET_S)
            return
        except Exception:
            log.exception("call %s: announcement recognition failed (%s)", attempt, path)
            return
        log.info("call %s: early media %.1f s -> %s via %s (score %s, margin %s, scores %s, text %r)", attempt,
                 match.seconds, match.reason, match.method, match.score, match.margin, match.scores,
                 redact.words(match.text))
        try:
            await agi.set_variable("IVR_EARLY_MEDIA", f"{match.seconds:.1f}")
            await agi.set_variable("IVR_ANNOUNCEMENT", match.reason or "")
            await agi.set_variable("IVR_ANNOUNCEMENT_VIA", match.method)
            await agi.set_variable("IVR_ANNOUNCEMENT_SCORE", "" if match.score is None else
                                   str(int(match.score)) if match.method == "library" else str(match.score))
        except CallHungUp:
            pass


async def warm_up(settings) -> None:
    """Build the references before the first failed call needs them (espeak-ng, once per cache)."""
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, announcements.fingerprinter, Path(settings.cache_dir) / "tts",
                               Path(settings.cache_dir) / "announcements")
