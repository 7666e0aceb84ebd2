"""Audio tools on WAV files (numpy/scipy): facts, loudness, frequency analysis, silence, editing, synthesis.

Reads PCM WAV (8/16/24/32-bit integer and 32/64-bit float); everything written is 16-bit PCM WAV.
scipy and matplotlib are imported on first use: they are slow to import, and listing tools should not wait.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, Field

from dive.servers.kit import Example, Fact, Meaning, Takes, ToolFailure, clip_items, no_facts

from .imaging import ImageFile, image_suffixes, write_encoded
from .workspace import AUDIO_SUFFIXES, DOMAIN, MediaWorkspace, WrittenFile, default_name, facts_of

MAX_SECONDS = 600.0
MIN_RATE, MAX_RATE = 1000, 192_000
FLOOR_DB = -120.0

AudioPath = Annotated[
    str,
    Field(description="WAV path: a world file such as 'audio/tone_iron.wav' or a path an earlier call wrote"),
]
AudioOutput = Annotated[
    str | None,
    Field(description="Where to save the WAV in this session's media folder, e.g. 'out/clip.wav' (replaces a file "
                      "there); default 'out/<name>-<operation>.wav', numbered rather than replacing an earlier output"),
]


def _signal():
    from scipy import signal

    return signal


@dataclass
class Clip:
    """Decoded audio: float samples in -1..1, shape (frames, channels)."""

    rate: int
    samples: np.ndarray
    sample_width: int  # bytes per sample in the source file
    encoding: str

    @property
    def frames(self) -> int:
        return self.samples.shape[0]

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    def mono(self) -> np.ndarray:
        return self.samples.mean(axis=1)


def read_clip(s: MediaWorkspace, path: str) -> tuple[Clip, Path]:
    from scipy.io import wavfile

    real = s.locate(path)
    try:
        rate, data = wavfile.read(real)
    except (ValueError, OSError) as exc:
        raise ToolFailure(f"{path!r} is not a WAV file this server can read (PCM or float WAV): {exc}") from None
    sample_width = data.dtype.itemsize
    try:  # the wave module knows the true width of 24-bit files (scipy widens them to int32)
        with wave.open(str(real)) as w:
            sample_width = w.getsampwidth()
    except (wave.Error, EOFError):
        pass
    if data.ndim == 1:
        data = data[:, None]
    if data.dtype == np.uint8:
        samples = (data.astype(np.float64) - 128.0) / 128.0
        encoding = "pcm_u8"
    elif np.issubdtype(data.dtype, np.integer):
        samples = data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))
        encoding = f"pcm_s{8 * sample_width}"
    else:
        samples = data.astype(np.float64)
        encoding = f"float{8 * data.dtype.itemsize}"
    return Clip(rate=int(rate), samples=samples, sample_width=sample_width, encoding=encoding), real


def write_clip(s: MediaWorkspace, target: Path, rate: int, samples: np.ndarray) -> tuple[WrittenFile, int]:
    """Write 16-bit PCM; returns the file and how many samples had to be clipped to full scale."""
    if samples.ndim == 1:
        samples = samples[:, None]
    clipped = int(np.count_nonzero(np.abs(samples) > 1.0))
    pcm = np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    data = buffer.getvalue()
    return WrittenFile(path=s.write(target, data), bytes=len(data)), clipped


def audio_target(s: MediaWorkspace, output: str | None, source: str, tag: str) -> Path:
    return s.output(output, default_name(source, tag, ".wav"), AUDIO_SUFFIXES)


def dbfs(value: float) -> float:
    return round(20 * math.log10(value), 3) if value > 0 else FLOOR_DB


def _span(clip: Clip, start: float, end: float | None) -> tuple[int, int]:
    if start >= clip.duration:
        raise ToolFailure(f"start {start} s is at or past the end of the {clip.duration:.3f} s clip")
    stop = clip.duration if end is None else end
    if start < 0 or stop <= start:
        raise ToolFailure(f"need 0 <= start < end; got start={start}, end={end}")
    return round(start * clip.rate), min(clip.frames, round(stop * clip.rate))


def peak_frequency(x: np.ndarray, rate: int) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(frequency of the strongest peak, its magnitude in dB, freqs, magnitude spectrum).

    Hann window, then parabolic interpolation on the log magnitude around the peak bin: a pure tone lands within
    a small fraction of a bin (a 1 s clip has 1 Hz bins), far inside 1 Hz.
    """
    x = x - x.mean()
    n = len(x)
    window = np.hanning(n)
    spectrum = np.abs(np.fft.rfft(x * window)) / (window.sum() / 2)
    freqs = np.fft.rfftfreq(n, 1.0 / rate)
    if n < 4 or not spectrum[1:].any():
        return 0.0, FLOOR_DB, freqs, spectrum
    k = int(np.argmax(spectrum[1:])) + 1
    freq = freqs[k]
    if 1 <= k < len(spectrum) - 1:
        a, b, c = (math.log(max(v, 1e-20)) for v in spectrum[k - 1:k + 2])
        denom = a - 2 * b + c
        if denom != 0:
            freq = freqs[k] + 0.5 * (a - c) / denom * (rate / n)
    return float(freq), dbfs(float(spectrum[k])), freqs, spectrum


# -- facts about the world's tones (used by self-tests) ---------------------------------------------------------


WORLD_TONE = "audio/tone_iron.wav"


def _tone_hz(world) -> float:
    return float(facts_of(world, WORLD_TONE)["frequency_hz"])


# -- facts ---------------------------------------------------------------------------------------------------------


class WavInfo(BaseModel):
    path: str
    source: Literal["session", "world"]
    sample_rate: int = Field(description="Samples per second per channel (Hz)")
    channels: int
    sample_width_bytes: int = Field(description="Bytes per sample: 2 for 16-bit PCM")
    encoding: str = Field(description="pcm_s16, pcm_s24, pcm_u8, float32, ...")
    frames: int = Field(description="Samples per channel")
    duration_s: float
    file_bytes: int


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("duration_s", "the duration of {path}", unit="seconds"), Fact("sample_rate", "the sample rate of {path}", unit="Hz"), Fact("channels", "the number of audio channels in {path}"), Fact("sample_width_bytes", "the sample width of {path}", unit="bytes"), Fact("file_bytes", "the file size of {path}", unit="bytes"))), 
    kind="retrieval",
    examples=[Example({"path": WORLD_TONE},
                      lambda r, w: [r[k] for k in ("sample_rate", "channels", "sample_width_bytes", "frames", "duration_s")]
                      == [facts_of(w, WORLD_TONE)[k] for k in ("sample_rate", "channels", "sample_width_bytes", "frames",
                                                               "duration_s")],
                      note="matches the tone's facts in media/index.json")],
)
def wav_info(s: MediaWorkspace, path: AudioPath) -> WavInfo:
    """Facts of a WAV file: sample rate, channels, sample width and encoding, number of frames, duration in
    seconds and file size."""
    clip, real = read_clip(s, path)
    return WavInfo(path=s.relative(real), source=s.source_of(real), sample_rate=clip.rate, channels=clip.channels,
                   sample_width_bytes=clip.sample_width, encoding=clip.encoding, frames=clip.frames,
                   duration_s=round(clip.duration, 6), file_bytes=real.stat().st_size)


class Loudness(BaseModel):
    path: str
    start_s: float
    end_s: float
    rms_dbfs: float = Field(description="Root-mean-square level in dB relative to full scale (0 is the maximum; "
                                        "a full-scale sine is about -3)")
    peak_dbfs: float = Field(description="Highest absolute sample in dBFS")
    peak_amplitude: float = Field(description="Highest absolute sample, 0..1")
    crest_factor_db: float = Field(description="peak_dbfs - rms_dbfs (about 3 dB for a sine)")
    clipped_samples: int = Field(description="Samples at full scale (a sign of clipping)")
    per_channel_rms_dbfs: list[float]


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("rms_dbfs", "the RMS level of {path}", unit="dBFS"), Fact("peak_dbfs", "the peak level of {path}", unit="dBFS"))), 
    kind="processing",
    examples=[Example({"path": WORLD_TONE},
                      lambda r: -60 < r["rms_dbfs"] < 0 and abs(r["crest_factor_db"] - 3.01) < 0.3,
                      note="a pure sine has a 3 dB crest factor")],
)
def audio_loudness(
    s: MediaWorkspace,
    path: AudioPath,
    start: Annotated[float, Field(ge=0, description="Measure from this time in seconds")] = 0.0,
    end: Annotated[float | None, Field(gt=0, description="Measure up to this time in seconds; default the end")] = None,
) -> Loudness:
    """Loudness of a WAV (or a time range of it): RMS and peak level in dBFS, peak amplitude, crest factor,
    clipped-sample count, and RMS per channel."""
    clip, real = read_clip(s, path)
    a, b = _span(clip, start, end)
    part = clip.samples[a:b]
    rms = float(np.sqrt(np.mean(part**2)))
    peak = float(np.abs(part).max())
    per = [dbfs(float(np.sqrt(np.mean(part[:, c] ** 2)))) for c in range(clip.channels)]
    return Loudness(path=s.relative(real), start_s=a / clip.rate, end_s=b / clip.rate, rms_dbfs=dbfs(rms),
                    peak_dbfs=dbfs(peak), peak_amplitude=round(peak, 6), crest_factor_db=round(dbfs(peak) - dbfs(rms), 3),
                    clipped_samples=int(np.count_nonzero(np.abs(part) >= 32767 / 32768)), per_channel_rms_dbfs=per)


class FrequencyPeak(BaseModel):
    frequency_hz: float
    level_db: float = Field(description="Peak magnitude in dB relative to a full-scale sine")


class FrequencyAnalysis(BaseModel):
    path: str
    start_s: float
    end_s: float
    dominant_frequency_hz: float = Field(description="Strongest frequency (interpolated between FFT bins)")
    dominant_level_db: float
    note: str = Field(description="Nearest musical note to the dominant frequency, e.g. 'A4'")
    cents_off: float = Field(description="Distance from that note in cents (100 cents = one semitone)")
    resolution_hz: float = Field(description="FFT bin width (before interpolation)")
    peaks: list[FrequencyPeak] = Field(description="Strongest spectral peaks, loudest first")


_NOTES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def note_of(freq: float) -> tuple[str, float]:
    if freq <= 0:
        return "", 0.0
    midi = 69 + 12 * math.log2(freq / 440.0)
    nearest = round(midi)
    return f"{_NOTES[nearest % 12]}{nearest // 12 - 1}", round(100 * (midi - nearest), 2)


def _frequency_check(r: dict, world) -> bool:
    return r["path"] == WORLD_TONE and abs(r["dominant_frequency_hz"] - _tone_hz(world)) < 1.0


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("dominant_frequency_hz", "the dominant frequency of {path}", unit="Hz"), Fact("note", "the musical note nearest to the dominant frequency of {path}"))), 
    kind="processing",
    examples=[Example({"path": WORLD_TONE}, _frequency_check,
                      note="within 1 Hz of the tone frequency recorded in media/index.json")],
)
def dominant_frequency(
    s: MediaWorkspace,
    path: AudioPath,
    start: Annotated[float, Field(ge=0, description="Analyse from this time in seconds")] = 0.0,
    end: Annotated[float | None, Field(gt=0, description="Analyse up to this time; default the end")] = None,
    peaks: Annotated[int, Field(ge=1, le=50, description="How many spectral peaks to list")] = 5,
) -> FrequencyAnalysis:
    """The dominant frequency of a WAV (or a time range), accurate to a small fraction of a hertz for steady tones,
    with the nearest musical note and the strongest other spectral peaks (harmonics, chord notes)."""
    clip, real = read_clip(s, path)
    a, b = _span(clip, start, end)
    x = clip.mono()[a:b]
    if len(x) < 16:
        raise ToolFailure("the range is too short to analyse (fewer than 16 samples); widen start/end")
    freq, level, freqs, spectrum = peak_frequency(x, clip.rate)
    floor = spectrum.max() * 1e-3  # peaks within 60 dB of the strongest
    idx, _ = _signal().find_peaks(spectrum, height=floor, distance=max(1, round(5 * len(x) / clip.rate)))
    idx = sorted(idx, key=lambda i: -spectrum[i])[:peaks]
    found = [FrequencyPeak(frequency_hz=round(float(freqs[i]), 3), level_db=dbfs(float(spectrum[i]))) for i in idx]
    if found:  # the first peak is the interpolated dominant one
        found[0] = FrequencyPeak(frequency_hz=round(freq, 3), level_db=level)
    name, cents = note_of(freq)
    return FrequencyAnalysis(path=s.relative(real), start_s=a / clip.rate, end_s=b / clip.rate,
                             dominant_frequency_hz=round(freq, 3), dominant_level_db=level, note=name, cents_off=cents,
                             resolution_hz=round(clip.rate / len(x), 6), peaks=found)


class FrequencySegment(BaseModel):
    start_s: float
    end_s: float
    frequency_hz: float = Field(description="Dominant frequency over the segment")
    note: str


class FrequencySegments(BaseModel):
    path: str
    window_s: float
    segments: list[FrequencySegment] = Field(description="Stretches of steady pitch, in time order (silence skipped)")


@DOMAIN.tool(meaning=no_facts("its stretches depend on the window and tolerance the caller picks, and the list is cut without saying so; the world's tones hold one steady pitch, which dominant_frequency answers", path=Takes("audio", "path")), 
    kind="processing",
    examples=[Example({"path": WORLD_TONE},
                      lambda r, w: len(r["segments"]) == 1 and abs(r["segments"][0]["frequency_hz"] - _tone_hz(w)) < 1.0)],
)
def frequency_segments(
    s: MediaWorkspace,
    path: AudioPath,
    window: Annotated[float, Field(ge=0.02, le=5, description="Analysis window in seconds")] = 0.1,
    tolerance_hz: Annotated[float, Field(gt=0, le=1000, description="Windows within this many Hz join one segment")] = 5.0,
    silence_db: Annotated[float, Field(ge=-120, le=0, description="Windows quieter than this (RMS dBFS) are skipped")] = -50.0,
) -> FrequencySegments:
    """Split a WAV into stretches of steady pitch (a melody, a sequence of tones, a concatenation) and give each
    one's start, end and dominant frequency; silent stretches are skipped."""
    clip, real = read_clip(s, path)
    x = clip.mono()
    hop = max(16, round(window * clip.rate))
    raw: list[tuple[int, int, float]] = []
    for a in range(0, clip.frames, hop):
        part = x[a:a + hop]
        if len(part) < hop // 2 or dbfs(float(np.sqrt(np.mean(part**2)))) < silence_db:
            continue
        raw.append((a, a + len(part), peak_frequency(part, clip.rate)[0]))
    segments: list[list] = []
    for a, b, f in raw:
        if segments and segments[-1][1] == a and abs(segments[-1][3] - f) <= tolerance_hz:
            segments[-1][1] = b
        else:
            segments.append([a, b, [], f])
        segments[-1][2].append(f)
    out = []
    for a, b, _, _ in segments:
        f = peak_frequency(x[a:b], clip.rate)[0]  # re-measure over the whole segment: finer resolution
        out.append(FrequencySegment(start_s=round(a / clip.rate, 4), end_s=round(b / clip.rate, 4),
                                    frequency_hz=round(f, 3), note=note_of(f)[0]))
    shown, _ = clip_items(out)
    return FrequencySegments(path=s.relative(real), window_s=hop / clip.rate, segments=shown)


class SilenceSegment(BaseModel):
    start_s: float
    end_s: float
    duration_s: float


class SilenceReport(BaseModel):
    path: str
    duration_s: float
    threshold_dbfs: float
    silences: list[SilenceSegment]
    total_silence_s: float
    sound_start_s: float | None = Field(description="When sound first rises above the threshold (null if never)")
    sound_end_s: float | None = Field(description="When sound last falls below the threshold")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("duration_s", "the duration of {path}", unit="seconds"), Fact("total_silence_s", "the total length of silence in {path}", unit="seconds"))), 
    kind="processing",
    examples=[Example({"path": WORLD_TONE},
                      lambda r: r["sound_start_s"] is not None and r["total_silence_s"] < r["duration_s"])],
)
def detect_silence(
    s: MediaWorkspace,
    path: AudioPath,
    threshold_db: Annotated[float, Field(ge=-120, le=0, description="Frames quieter than this RMS dBFS are silence")] = -40.0,
    min_duration: Annotated[float, Field(ge=0.01, le=60, description="Shortest silence to report, seconds")] = 0.2,
) -> SilenceReport:
    """Find the silent stretches of a WAV (RMS in 10 ms frames below a threshold for at least a minimum time), the
    total silence, and when sound starts and ends. Use before trimming or to split recordings."""
    clip, real = read_clip(s, path)
    frame = max(1, clip.rate // 100)
    x = clip.mono()
    n = -(-clip.frames // frame)
    padded = np.zeros(n * frame)
    padded[:clip.frames] = x
    level = np.sqrt(np.mean(padded.reshape(n, frame) ** 2, axis=1))
    with np.errstate(divide="ignore"):
        quiet = 20 * np.log10(np.maximum(level, 1e-12)) < threshold_db
    silences, i = [], 0
    while i < n:
        if quiet[i]:
            j = i
            while j < n and quiet[j]:
                j += 1
            start, end = i * frame / clip.rate, min(j * frame, clip.frames) / clip.rate
            if end - start >= min_duration:
                silences.append(SilenceSegment(start_s=round(start, 4), end_s=round(end, 4), duration_s=round(end - start, 4)))
            i = j
        else:
            i += 1
    loud = np.nonzero(~quiet)[0]
    shown, _ = clip_items(silences)
    return SilenceReport(
        path=s.relative(real), duration_s=round(clip.duration, 6), threshold_dbfs=threshold_db, silences=shown,
        total_silence_s=round(sum(x.duration_s for x in silences), 4),
        sound_start_s=round(loud[0] * frame / clip.rate, 4) if len(loud) else None,
        sound_end_s=round(min((loud[-1] + 1) * frame, clip.frames) / clip.rate, 4) if len(loud) else None,
    )


# -- editing -------------------------------------------------------------------------------------------------------


class AudioFile(BaseModel):
    file: WrittenFile
    sample_rate: int
    channels: int
    duration_s: float
    clipped_samples: int = Field(description="Samples that exceeded full scale and were clipped when writing")


def _written(s: MediaWorkspace, target: Path, rate: int, samples: np.ndarray) -> AudioFile:
    if samples.shape[0] / rate > MAX_SECONDS:
        raise ToolFailure(f"the result would last {samples.shape[0] / rate:.1f} s, over the {MAX_SECONDS:g} s limit")
    written, clipped = write_clip(s, target, rate, samples)
    return AudioFile(file=written, sample_rate=rate, channels=samples.shape[1] if samples.ndim > 1 else 1,
                     duration_s=round(samples.shape[0] / rate, 6), clipped_samples=clipped)


@DOMAIN.tool(meaning=no_facts("writes the caller's time range to a file whose name it chose; its length follows from the range", path=Takes("audio", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_TONE, "start": 0.25, "end": 0.75},
                      lambda r: abs(r["duration_s"] - 0.5) < 1e-3 and r["sample_rate"] == 16000)],
)
def trim_audio(
    s: MediaWorkspace,
    path: AudioPath,
    start: Annotated[float, Field(ge=0, description="Keep from this time in seconds")] = 0.0,
    end: Annotated[float | None, Field(gt=0, description="Keep up to this time in seconds; default the end")] = None,
    fade: Annotated[float, Field(ge=0, le=10, description="Fade in and out over this many seconds (avoids clicks)")] = 0.0,
    output: AudioOutput = None,
) -> AudioFile:
    """Cut a time range out of a WAV into a new 16-bit WAV, optionally with a fade in and out."""
    clip, _ = read_clip(s, path)
    a, b = _span(clip, start, end)
    part = clip.samples[a:b].copy()
    ramp = min(round(fade * clip.rate), len(part) // 2)
    if ramp:
        shape = np.linspace(0.0, 1.0, ramp)[:, None]
        part[:ramp] *= shape
        part[-ramp:] *= shape[::-1]
    return _written(s, audio_target(s, output, path, f"{start:g}-{b / clip.rate:g}s"), clip.rate, part)


@DOMAIN.tool(meaning=no_facts("writes a copy at the caller's sample rate to a file whose name it chose", path=Takes("audio", "path")), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_TONE, "sample_rate": 8000},
                      lambda r: r["sample_rate"] == 8000 and r["duration_s"] > 0)],
)
def resample_audio(
    s: MediaWorkspace,
    path: AudioPath,
    sample_rate: Annotated[int, Field(ge=MIN_RATE, le=MAX_RATE, description="New sample rate in Hz, e.g. 8000, 22050, 44100")],
    channels: Annotated[Literal["keep", "mono", "stereo"], Field(description="Also mix down to mono or duplicate to stereo")] = "keep",
    output: AudioOutput = None,
) -> AudioFile:
    """Change a WAV's sample rate (polyphase filtering, no aliasing) and optionally its channel count; duration and
    pitch are preserved."""
    clip, _ = read_clip(s, path)
    samples = clip.samples
    if channels == "mono":
        samples = samples.mean(axis=1, keepdims=True)
    elif channels == "stereo":
        samples = np.repeat(samples.mean(axis=1, keepdims=True), 2, axis=1) if samples.shape[1] != 2 else samples
    if sample_rate != clip.rate:
        ratio = Fraction(sample_rate, clip.rate)
        if ratio.numerator > 1000 or ratio.denominator > 1000:
            ratio = ratio.limit_denominator(1000)
        samples = _signal().resample_poly(samples, ratio.numerator, ratio.denominator, axis=0)
    return _written(s, audio_target(s, output, path, f"{sample_rate}hz"), sample_rate, samples)


def _match(clip: Clip, rate: int, channels: int) -> np.ndarray:
    samples = clip.samples
    if clip.rate != rate:
        ratio = Fraction(rate, clip.rate).limit_denominator(1000)
        samples = _signal().resample_poly(samples, ratio.numerator, ratio.denominator, axis=0)
    if samples.shape[1] != channels:
        samples = np.repeat(samples.mean(axis=1, keepdims=True), channels, axis=1)
    return samples


@DOMAIN.tool(meaning=no_facts("mixes the caller's files with the caller's gains and offsets into a file whose name it chose"), 
    kind="processing",
    writes=True,
    examples=[Example({"paths": [WORLD_TONE, WORLD_TONE], "gains_db": [-6, -6]},
                      lambda r: r["sample_rate"] == 16000 and r["clipped_samples"] == 0)],
)
def mix_audio(
    s: MediaWorkspace,
    paths: Annotated[list[str], Field(min_length=2, max_length=16, description="WAV files to mix together")],
    gains_db: Annotated[list[float] | None, Field(description="Gain in dB for each input (default 0 each); "
                                                              "lower them to avoid clipping")] = None,
    offsets: Annotated[list[float] | None, Field(description="Start time in seconds of each input in the mix "
                                                             "(default all 0)")] = None,
    output: Annotated[str | None, Field(description="Where to save; default 'out/mix.wav'")] = None,
) -> AudioFile:
    """Mix several WAVs into one (sum of samples), each with its own gain and start offset. Inputs are converted
    to the first one's sample rate and channel count; the mix lasts until the last input ends."""
    gains = gains_db if gains_db is not None else [0.0] * len(paths)
    starts = offsets if offsets is not None else [0.0] * len(paths)
    if len(gains) != len(paths) or len(starts) != len(paths):
        raise ToolFailure(f"{len(paths)} paths need as many gains_db and offsets (got {len(gains)} and {len(starts)})")
    if any(o < 0 for o in starts):
        raise ToolFailure("offsets must be >= 0 seconds")
    clips = [read_clip(s, p)[0] for p in paths]
    rate, channels = clips[0].rate, clips[0].channels
    parts = [_match(c, rate, channels) * 10 ** (g / 20) for c, g in zip(clips, gains)]
    shifts = [round(o * rate) for o in starts]
    length = max(sh + len(p) for sh, p in zip(shifts, parts))
    if length / rate > MAX_SECONDS:
        raise ToolFailure(f"the mix would last {length / rate:.1f} s, over the {MAX_SECONDS:g} s limit")
    mix = np.zeros((length, channels))
    for sh, p in zip(shifts, parts):
        mix[sh:sh + len(p)] += p
    return _written(s, s.output(output, "mix.wav", AUDIO_SUFFIXES), rate, mix)


@DOMAIN.tool(meaning=no_facts("joins the caller's files into a file whose name it chose; its length is theirs plus the gaps"), 
    kind="processing",
    writes=True,
    examples=[Example({"paths": [WORLD_TONE, WORLD_TONE], "gap": 0.5},
                      lambda r, w: r["sample_rate"] == 16000 and r["duration_s"] > 0.5)],
)
def concat_audio(
    s: MediaWorkspace,
    paths: Annotated[list[str], Field(min_length=2, max_length=64, description="WAV files in playing order")],
    gap: Annotated[float, Field(ge=0, le=60, description="Seconds of silence between consecutive files")] = 0.0,
    output: Annotated[str | None, Field(description="Where to save; default 'out/concat.wav'")] = None,
) -> AudioFile:
    """Join WAVs end to end (with optional silence between them) into one file at the first one's sample rate and
    channel count."""
    clips = [read_clip(s, p)[0] for p in paths]
    rate, channels = clips[0].rate, clips[0].channels
    silence = np.zeros((round(gap * rate), channels))
    pieces = []
    for n, c in enumerate(clips):
        if n:
            pieces.append(silence)
        pieces.append(_match(c, rate, channels))
    total = sum(len(p) for p in pieces)
    if total / rate > MAX_SECONDS:
        raise ToolFailure(f"the result would last {total / rate:.1f} s, over the {MAX_SECONDS:g} s limit")
    return _written(s, s.output(output, "concat.wav", AUDIO_SUFFIXES), rate, np.concatenate(pieces, axis=0))


class VolumeResult(BaseModel):
    audio: AudioFile
    gain_db: float = Field(description="Gain that was applied")
    peak_dbfs_before: float
    peak_dbfs_after: float
    rms_dbfs_after: float


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("peak_dbfs_before", "the peak level of {path}", unit="dBFS"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_TONE, "normalize_peak_dbfs": -1.0},
                      lambda r: abs(r["peak_dbfs_after"] + 1.0) < 0.05 and r["audio"]["clipped_samples"] == 0)],
)
def change_volume(
    s: MediaWorkspace,
    path: AudioPath,
    gain_db: Annotated[float | None, Field(ge=-96, le=48, description="Gain to apply in dB (+6 about doubles amplitude)")] = None,
    normalize_peak_dbfs: Annotated[float | None, Field(ge=-96, le=0, description="Instead: scale so the peak lands here")] = None,
    normalize_rms_dbfs: Annotated[float | None, Field(ge=-96, le=0, description="Instead: scale so the RMS level lands here")] = None,
    output: AudioOutput = None,
) -> VolumeResult:
    """Make a WAV louder or quieter: a fixed gain in dB, or normalise its peak or RMS to a target level. Reports
    the gain used and levels after; samples pushed past full scale are clipped and counted."""
    chosen = [v is not None for v in (gain_db, normalize_peak_dbfs, normalize_rms_dbfs)]
    if sum(chosen) != 1:
        raise ToolFailure("give exactly one of gain_db, normalize_peak_dbfs or normalize_rms_dbfs")
    clip, _ = read_clip(s, path)
    peak = float(np.abs(clip.samples).max())
    rms = float(np.sqrt(np.mean(clip.samples**2)))
    if gain_db is not None:
        gain = gain_db
    elif peak == 0:
        raise ToolFailure("the file is silent; it cannot be normalised")
    elif normalize_peak_dbfs is not None:
        gain = normalize_peak_dbfs - 20 * math.log10(peak)
    else:
        gain = normalize_rms_dbfs - 20 * math.log10(rms)
    scaled = clip.samples * 10 ** (gain / 20)
    audio = _written(s, audio_target(s, output, path, f"gain{gain:+.1f}db"), clip.rate, scaled)
    after = np.clip(scaled, -1, 1)
    return VolumeResult(audio=audio, gain_db=round(gain, 3), peak_dbfs_before=dbfs(peak),
                        peak_dbfs_after=dbfs(float(np.abs(after).max())),
                        rms_dbfs_after=dbfs(float(np.sqrt(np.mean(after**2)))))


class ToneResult(BaseModel):
    audio: AudioFile
    waveform: str
    frequencies_hz: list[float]
    amplitude_dbfs: float


@DOMAIN.tool(meaning=no_facts("synthesises a tone from the caller's parameters into a file whose name it chose; every field echoes them"), 
    kind="processing",
    writes=True,
    examples=[Example({"frequency_hz": 1000, "duration_s": 0.5, "sample_rate": 8000},
                      lambda r: r["audio"]["sample_rate"] == 8000 and abs(r["audio"]["duration_s"] - 0.5) < 1e-9)],
)
def generate_tone(
    s: MediaWorkspace,
    frequency_hz: Annotated[float, Field(gt=0, le=96_000, description="Tone frequency in Hz, e.g. 440 for A4")],
    duration_s: Annotated[float, Field(gt=0, le=MAX_SECONDS, description="Length in seconds")] = 1.0,
    sample_rate: Annotated[int, Field(ge=MIN_RATE, le=MAX_RATE)] = 16000,
    waveform: Annotated[Literal["sine", "square", "sawtooth", "triangle"], Field(description="Wave shape")] = "sine",
    amplitude_dbfs: Annotated[float, Field(ge=-96, le=0, description="Peak level in dBFS (0 = full scale)")] = -6.0,
    extra_frequencies_hz: Annotated[list[float] | None, Field(max_length=8, description="More frequencies to sound "
                                                                                        "at the same time (a chord)")] = None,
    output: Annotated[str | None, Field(description="Where to save; default 'out/tone-<freq>hz.wav'")] = None,
) -> ToneResult:
    """Synthesise a tone (sine, square, sawtooth or triangle, optionally a chord of several frequencies) as a 16-bit
    mono WAV: test signals, reference pitches, or inputs for mixing."""
    freqs = [frequency_hz, *(extra_frequencies_hz or [])]
    nyquist = sample_rate / 2
    if any(f <= 0 or f >= nyquist for f in freqs):
        raise ToolFailure(f"every frequency must be between 0 and {nyquist:g} Hz (half the sample rate)")
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    if len(t) == 0:
        raise ToolFailure("the duration is shorter than one sample")
    shapes = {"sine": lambda ph: np.sin(ph), "square": lambda ph: _signal().square(ph),
              "sawtooth": lambda ph: _signal().sawtooth(ph), "triangle": lambda ph: _signal().sawtooth(ph, 0.5)}
    wave_sum = sum(shapes[waveform](2 * np.pi * f * t) for f in freqs)
    wave_sum = wave_sum / np.abs(wave_sum).max() * 10 ** (amplitude_dbfs / 20)
    target = s.output(output, f"tone-{frequency_hz:g}hz.wav", AUDIO_SUFFIXES)
    return ToneResult(audio=_written(s, target, sample_rate, wave_sum), waveform=waveform, frequencies_hz=freqs,
                      amplitude_dbfs=amplitude_dbfs)


class SpectrogramResult(BaseModel):
    image: ImageFile
    duration_s: float
    max_frequency_hz: float = Field(description="Top of the frequency axis")
    loudest_frequency_hz: float = Field(description="Frequency bin with the most energy over the whole clip")


@DOMAIN.tool(meaning=Meaning(takes={"path": Takes("audio", "path")}, facts=(Fact("duration_s", "the duration of {path}", unit="seconds"),)), 
    kind="processing",
    writes=True,
    examples=[Example({"path": WORLD_TONE, "max_frequency_hz": 2000},
                      lambda r, w: r["image"]["format"] == "PNG" and r["max_frequency_hz"] == 2000
                      and abs(r["loudest_frequency_hz"] - _tone_hz(w)) <= 20)],
)
def spectrogram_image(
    s: MediaWorkspace,
    path: AudioPath,
    max_frequency_hz: Annotated[float | None, Field(gt=0, description="Top of the frequency axis; default half the "
                                                                      "sample rate")] = None,
    window: Annotated[int, Field(ge=64, le=16384, description="FFT window length in samples (longer = finer frequency, "
                                                              "coarser time)")] = 1024,
    width: Annotated[int, Field(ge=200, le=4000)] = 900,
    height: Annotated[int, Field(ge=150, le=4000)] = 450,
    output: Annotated[str | None, Field(description="Where to save the PNG; default 'out/<name>-spectrogram.png'")] = None,
) -> SpectrogramResult:
    """Render a WAV's spectrogram (frequency over time, colour = level in dB) as a PNG, and report its loudest
    frequency band. Use image tools or a vision model on the picture."""
    clip, _ = read_clip(s, path)
    x = clip.mono()
    nper = min(window, len(x))
    freqs, times, power = _signal().spectrogram(x, fs=clip.rate, nperseg=nper, noverlap=nper // 2, window="hann")
    top = min(max_frequency_hz or clip.rate / 2, clip.rate / 2)
    keep = freqs <= top
    db = 10 * np.log10(np.maximum(power[keep], 1e-14))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(times, freqs[keep], db, shading="auto", cmap="magma", vmin=db.max() - 90, vmax=db.max())
    fig.colorbar(mesh, ax=ax, label="dB")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(Path(path).name)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    data = buffer.getvalue()
    target = s.output(output, default_name(path, "spectrogram", ".png"), image_suffixes("PNG"))
    loudest = float(freqs[int(np.argmax(power.sum(axis=1)))])
    return SpectrogramResult(image=write_encoded(s, target, data),
                             duration_s=round(clip.duration, 6), max_frequency_hz=top, loudest_frequency_hz=loudest)
