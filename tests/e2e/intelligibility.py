"""Is it speech? Seeded takes from `dial speak` at stability 0.5 and 1.0, transcribed by
PocketSphinx (the `pocketsphinx` package, with its bundled US English model), scored by
word error rate against the text.

    DIAL=target/release/dial python3 tests/e2e/intelligibility.py

Noise or babble transcribes to a WER near or above 1; the check fails above 0.5.
"""

import os
import subprocess
import sys
import tempfile

from pocketsphinx import Decoder

DIAL = os.environ.get("DIAL", "dial")
SENTENCES = [
    "the weather is nice today",
    "please call me back in the morning",
    "she bought a new car last week",
    "we need more time to finish the work",
    "the children are playing in the park",
    "turn left at the next street",
    "he reads the news every evening",
    "my brother lives in a small town",
]
SEEDS = [1, 2, 3]
LIMIT = 0.5


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def transcribe(decoder, pcm):
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp else ""


decoder = Decoder(samprate=16000, loglevel="FATAL")
results = {}
with tempfile.TemporaryDirectory() as tmp:
    for stability in (0.5, 1.0):
        errors = words = 0
        for text in SENTENCES:
            for seed in SEEDS if stability < 1 else SEEDS[:1]:
                out = os.path.join(tmp, "take.pcm")
                subprocess.run(
                    [DIAL, "speak", text, "--stability", str(stability), "--seed", str(seed),
                     "--format", "pcm_16000", "-o", out],
                    check=True, capture_output=True,
                )
                with open(out, "rb") as f:
                    heard = transcribe(decoder, f.read()).split()
                errors += edit_distance(text.split(), heard)
                words += len(text.split())
        results[stability] = errors / words
        print(f"stability {stability}: WER {errors / words:.3f} ({errors}/{words} words)")

for stability, wer in results.items():
    if wer > LIMIT:
        print(f"FAIL stability {stability}: WER {wer:.3f} > {LIMIT}", file=sys.stderr)
        sys.exit(1)
print("the takes are intelligible speech")
