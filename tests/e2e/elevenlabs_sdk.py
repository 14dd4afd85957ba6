"""The official `elevenlabs` Python SDK against a running `dial serve` with its voice.

    dial serve --port 8080 & DIAL_URL=http://127.0.0.1:8080/v1 python3 tests/e2e/elevenlabs_sdk.py

Every check asserts something that could fail; the script exits non-zero on the first
failure.
"""

import array
import io
import os
import sys
import wave

from elevenlabs import ElevenLabs, VoiceSettings
from elevenlabs.core.api_error import ApiError

URL = os.environ.get("DIAL_URL", "http://127.0.0.1:8080/v1")
BASE = URL.removesuffix("/v1")
assert BASE.startswith("http://127.0.0.1"), "loopback only"
client = ElevenLabs(base_url=BASE, api_key=os.environ.get("DIAL_API_KEY", "unused"), timeout=120)
TEXT = "Hello from dial. The same seed gives the same take."


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name}: {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   {name}")


voices = client.voices.get_all().voices
check("voices lists the installed voice", len(voices) == 1, voices)
voice_id = voices[0].voice_id
check("the default voice is joe", voice_id == "en_US-joe-medium", voice_id)


def pcm(seed, stability=0.3, fmt="pcm_22050"):
    return b"".join(
        client.text_to_speech.convert(
            voice_id=voice_id,
            text=TEXT,
            voice_settings=VoiceSettings(stability=stability),
            output_format=fmt,
            seed=seed,
        )
    )


a = pcm(7)
seconds = len(a) / 2 / 22050
check("convert returns about 3 s of 16-bit audio", len(a) % 2 == 0 and 2.0 < seconds < 6.0, seconds)
samples = array.array("h", a)
rms = (sum(s * s for s in samples) / len(samples)) ** 0.5
check("the audio is not silent", rms > 1000, rms)
check("the same seed reproduces the bytes", pcm(7) == a)
check("another seed gives another take", pcm(8) != a)
check("stability 1 is the same take for every seed", pcm(1, 1.0) == pcm(2, 1.0))
low = pcm(7, fmt="pcm_16000")
check("pcm_16000 is resampled to the right length", abs(len(low) / 2 - seconds * 16000) <= 2, len(low))

wav_bytes = b"".join(
    client.text_to_speech.convert(voice_id=voice_id, text=TEXT, output_format="wav_22050", seed=7)
)
with wave.open(io.BytesIO(wav_bytes)) as w:
    check("wav_22050 is a playable WAV", w.getframerate() == 22050 and w.getnchannels() == 1 and w.getsampwidth() == 2)
    check("the WAV holds the PCM take", w.readframes(w.getnframes()) == pcm(7, 0.5))

chunks = list(
    client.text_to_speech.stream(
        voice_id=voice_id,
        text=TEXT,
        voice_settings=VoiceSettings(stability=0.3),
        output_format="pcm_22050",
        seed=7,
    )
)
streamed = b"".join(chunks)
check("stream gives the same audio as convert", streamed == a, (len(streamed), len(a)))

timed = client.text_to_speech.convert_with_timestamps(
    voice_id=voice_id, text=TEXT, output_format="pcm_22050", seed=7,
    voice_settings=VoiceSettings(stability=0.3),
)
chars = timed.alignment.characters
check("with-timestamps aligns every character", "".join(chars) == TEXT, chars)
ends = timed.alignment.character_end_times_seconds
check("the alignment ends inside the audio", 0.5 < ends[-1] <= seconds + 1e-6, (ends[-1], seconds))
starts = timed.alignment.character_start_times_seconds
check("the alignment is in order", all(x <= y for x, y in zip(starts, starts[1:])))

try:
    pcm_bytes = b"".join(client.text_to_speech.convert(voice_id="no-such-voice", text=TEXT))
    check("an unknown voice raises", False, len(pcm_bytes))
except ApiError as e:
    check("an unknown voice raises a 404 voice_not_found", e.status_code == 404 and "voice_not_found" in str(e.body), e.body)

try:
    b"".join(client.text_to_speech.convert(voice_id=voice_id, text=TEXT, voice_settings=VoiceSettings(stability=0.5, speed=3.0)))
    check("a speed out of range raises", False)
except ApiError as e:
    check("a speed out of range is a 422 naming the field", e.status_code == 422 and "speed" in str(e.body), e.body)

mp3 = b"".join(client.text_to_speech.convert(voice_id=voice_id, text=TEXT, seed=7))
# The SDK's default format: constant-bit-rate MP3, about 128 kbit/s of MPEG frames.
check("the default is mp3_44100_128", mp3[0] == 0xFF and mp3[1] & 0xE0 == 0xE0, mp3[:4])
check("the MP3 has about 128 kbit/s for the take", abs(len(mp3) * 8 / 128000 - seconds) < 0.5, len(mp3))

try:
    b"".join(client.text_to_speech.convert(voice_id=voice_id, text=TEXT, output_format="opus_48000_64"))
    check("opus raises", False)
except ApiError as e:
    check("opus is a 422 listing what is supported", e.status_code == 422 and "mp3_44100_128" in str(e.body), e.body)

print("all elevenlabs SDK checks passed")
