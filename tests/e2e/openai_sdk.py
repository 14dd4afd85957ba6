"""The official `openai` package against a running `dial serve` on the real default model
and SmolLM2-135M-Instruct, served side by side.

Run by scripts/test, which starts the server; by hand:
    dial serve --port 8080 --model gemma3-270m --model smollm2 &
    DIAL_URL=http://127.0.0.1:8080/v1 python3 tests/e2e/openai_sdk.py
"""

import json
import os
import sys
import threading

import openai
from openai import OpenAI

URL = os.environ.get("DIAL_URL", "http://127.0.0.1:8080/v1")
client = OpenAI(base_url=URL, api_key=os.environ.get("DIAL_API_KEY", "unused"), max_retries=0)
MODELS = [m.id for m in client.models.list().data]
MODEL = MODELS[0]
SMOLLM2 = "SmolLM2-135M-Instruct.Q4_1"
HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = "The three primary colours are"


def test_responses_create_has_the_note_shape():
    r = client.responses.create(
        model=MODEL, input=PROMPT, temperature=0.7, top_p=0.9, max_output_tokens=16
    )
    assert r.object == "response"
    assert r.id.startswith("resp_")
    assert r.temperature == 0.7 and r.top_p == 0.9
    assert r.status in ("completed", "incomplete")
    if r.status == "incomplete":
        assert r.incomplete_details.reason == "max_output_tokens"
    message = r.output[0]
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "output_text"
    assert r.output_text == message.content[0].text and r.output_text
    u = r.usage
    assert u.input_tokens > 0 and 0 < u.output_tokens <= 16
    assert u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0
    assert u.output_tokens_details.reasoning_tokens == 0
    assert r.parallel_tool_calls is False and r.tools == [] and r.tool_choice == "none"


def test_responses_stream_yields_the_events_and_a_final_response():
    kinds, deltas = [], []
    with client.responses.stream(
        model=MODEL, input=PROMPT, max_output_tokens=12, temperature=0.8, extra_body={"seed": 4}
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    head = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert kinds[:4] == head, kinds
    assert kinds[-4:] == tail, kinds
    assert set(kinds[4:-4]) == {"response.output_text.delta"}, kinds
    assert final.output_text == "".join(deltas)
    assert final.usage.output_tokens == len(deltas)


def test_chat_streams_and_usage_comes_when_asked():
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=10,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens <= 10
    assert any(c.choices and c.choices[0].finish_reason for c in chunks[:-1])
    plain = list(
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=3, stream=True
        )
    )
    assert all(c.usage is None for c in plain)


def test_logprobs_give_five_alternatives_per_token():
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Count: one, two,"}],
        max_tokens=6,
        logprobs=True,
        top_logprobs=5,
        temperature=0,
    )
    content = r.choices[0].logprobs.content
    assert content
    for token in content:
        assert len(token.top_logprobs) == 5
        # Greedy draws the most likely token: the first alternative is the token itself.
        assert token.top_logprobs[0].token == token.token
        assert abs(token.top_logprobs[0].logprob - token.logprob) < 1e-6
        lps = [t.logprob for t in token.top_logprobs]
        assert lps == sorted(lps, reverse=True)


def test_the_same_seed_gives_the_same_text():
    def once():
        return client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=20,
            temperature=1.0,
            seed=1234,
        ).choices[0].message.content

    a, b = once(), once()
    assert a == b and a
    c = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=20,
        temperature=1.0,
        seed=1235,
    ).choices[0].message.content
    assert c != a


def test_bad_knobs_raise_bad_request_naming_the_parameter():
    try:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], temperature=3
        )
    except openai.BadRequestError as e:
        assert e.param == "temperature", e.body
        assert e.code == "invalid_value"
    else:
        raise AssertionError("temperature=3 was accepted")
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"repeat_penaltyy": 1.1},
        )
    except openai.BadRequestError as e:
        assert e.param == "repeat_penaltyy"
        assert "did you mean `repeat_penalty`" in e.message
    else:
        raise AssertionError("an unknown knob was accepted")
    try:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError as e:
        assert e.code == "model_not_found"
    else:
        raise AssertionError("an unknown model was accepted")


def test_extension_knobs_and_the_trace():
    r = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=4,
        extra_body={"top_k": 40, "min_p": 0.05, "seed": 1, "dial": {"trace": True, "entropy": True}},
    )
    extra = r.model_extra["dial"]
    assert extra["seed"] == 1
    tokens = extra["tokens"]
    assert len(tokens) == r.usage.completion_tokens
    for t in tokens:
        stages = [s["stage"] for s in t["trace"]]
        assert stages == ["top_k", "min_p"], stages
        assert t["entropy_bits_after"] <= t["entropy_bits_before"] + 1e-9


def test_every_newer_control_travels_in_extra_body_and_shows_in_the_trace():
    # Each request turns on one newer stage; the trace must name it on every token, and a
    # misspelling of it is a 400 with a suggestion.
    cases = [
        ({"epsilon_cutoff": 0.001}, ["epsilon_cutoff"]),
        ({"eta_cutoff": 0.002}, ["eta_cutoff"]),
        ({"top_a": 0.2}, ["top_a"]),
        ({"tfs": 0.95, "min_keep": 2}, ["tfs"]),
        ({"top_h": 0.4}, ["top_h"]),
        ({"p_less": True}, ["p_less"]),
        ({"p_less_norm": True}, ["p_less_norm"]),
        ({"smoothing_factor": 0.3, "smoothing_curve": 2.0}, ["smoothing"]),
        ({"min_p": 0.05, "adaptive_target": 0.4, "adaptive_decay": 0.8}, ["min_p", "adaptive_p"]),
        ({"dynatemp_low": 0.5, "dynatemp_high": 1.5}, ["dynamic_temperature"]),
    ]
    for knobs, want in cases:
        r = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=4,
            extra_body={**knobs, "seed": 5, "dial": {"trace": True}},
        )
        for t in r.model_extra["dial"]["tokens"]:
            stages = [s["stage"] for s in t["trace"]]
            assert stages == want, (knobs, stages)
        again = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=4,
            extra_body={**knobs, "seed": 5},
        )
        assert again.choices[0].message.content == r.choices[0].message.content, knobs
    for wrong, right in [("epsilon_cutof", "epsilon_cutoff"), ("p_les", "p_less"), ("top_aa", "top_a")]:
        try:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], extra_body={wrong: 0.1}
            )
        except openai.BadRequestError as e:
            assert e.param == wrong and f"did you mean `{right}`" in e.message, e.message
        else:
            raise AssertionError(f"{wrong} was accepted")
    try:
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"p_less": True, "p_less_norm": True},
        )
    except openai.BadRequestError as e:
        assert "cannot both be set" in e.message, e.message
    else:
        raise AssertionError("p_less with p_less_norm was accepted")


def test_min_tokens_ignore_eos_and_stop_token_ids():
    def ask(**extra):
        r = client.completions.create(
            model=MODEL, prompt="The end.", max_tokens=24, extra_body={"seed": 9, **extra}
        )
        return r.choices[0], r.usage.completion_tokens

    # ignore_eos: only max_tokens ends it.
    choice, n = ask(ignore_eos=True)
    assert (choice.finish_reason, n) == ("length", 24), (choice, n)
    # min_tokens: at least that many tokens, whatever the model would have done.
    choice, n = ask(min_tokens=20)
    assert n >= 20, n
    # stop_token_ids: the first token drawn ends the choice when every token is one.
    ids = list(range(0, 4096))
    choice, n = ask(stop_token_ids=ids, allowed_tokens=ids)
    assert (choice.finish_reason, n) == ("stop", 1), (choice, n)
    try:
        ask(min_tokens=30)
    except openai.BadRequestError as e:
        assert e.param == "min_tokens", e.message
    else:
        raise AssertionError("min_tokens above max_tokens was accepted")


def test_bad_words_and_sequence_bias_change_what_greedy_says():
    def greedy(**extra):
        r = client.completions.create(
            model=MODEL, prompt="The cat sat on the mat. The dog sat on", max_tokens=8,
            temperature=0, extra_body={"dial": {"trace": True}, **extra},
        )
        tokens = r.model_extra["dial"]["tokens"]
        return [t["text"] for t in tokens], [t["id"] for t in tokens]

    plain, ids = greedy()
    assert " the" in plain, plain
    banned, _ = greedy(bad_words=["the"])
    assert " the" not in banned and "the" not in banned, banned
    # llama.cpp's text-keyed logit_bias, with false to ban: every token of the text.
    for bias in ({" the": False}, [[" the", False]], [[ids[plain.index(" the")], -100]]):
        out, _ = greedy(logit_bias=bias)
        assert " the" not in out, (bias, out)
    # A one-token sequence bias strong enough to win every step: the plain run's second token.
    pushed, pushed_ids = greedy(sequence_bias=[[[ids[1]], 100.0]])
    assert pushed_ids == [ids[1]] * 8, (pushed, ids)
    # A two-token sequence: its last token follows its first, here the plain run's own pair.
    paired, _ = greedy(sequence_bias=[[[ids[0], ids[1]], -100.0]])
    assert paired[0] == plain[0] and paired[1] != plain[1], (paired, plain)
    try:
        greedy(sequence_bias=[[[], 1.0]])
    except openai.BadRequestError as e:
        assert e.param == "sequence_bias", e.message
    else:
        raise AssertionError("an empty sequence was accepted")


def test_banned_strings_rewind_and_never_show_even_while_streaming():
    import re
    import urllib.request

    def rewinds_total():
        text = urllib.request.urlopen(URL.removesuffix("/v1") + "/metrics").read().decode()
        return int(re.search(r"^dial_rewinds_total (\d+)$", text, re.M).group(1))

    def ask(**extra):
        r = client.completions.create(
            model=MODEL, prompt="The cat sat on the mat. The dog sat on", max_tokens=16,
            temperature=0, extra_body=extra,
        )
        return r.choices[0].text, r.model_extra["dial"]

    plain, report = ask()
    assert "the" in plain.lower() and "rewinds" not in report, (plain, report)
    before = rewinds_total()
    kept, report = ask(banned_strings=["THE"], banned_strings_case_insensitive=True)
    assert "the" not in kept.lower(), kept
    assert report["rewinds"] >= 1, report
    assert rewinds_total() >= before + report["rewinds"]
    # Matching case, "THE" is not in the greedy text: nothing changes.
    same, report = ask(banned_strings=["THE"])
    assert (same, report["rewinds"]) == (plain, 0), (same, report)
    # Streamed, the held text still arrives, and no chunk ever showed the phrase.
    chunks = [
        c.choices[0].text
        for c in client.completions.create(
            model=MODEL, prompt="The cat sat on the mat. The dog sat on", max_tokens=16,
            temperature=0, stream=True,
            extra_body={"banned_strings": ["THE"], "banned_strings_case_insensitive": True},
        )
        if c.choices
    ]
    assert "".join(chunks) == kept and not any("the" in c.lower() for c in chunks), chunks
    for bad in ([""], ["x" * 201], ["x"] * 65):
        try:
            ask(banned_strings=bad)
        except openai.BadRequestError as e:
            assert e.param == "banned_strings", e.message
        else:
            raise AssertionError(f"{bad!r} was accepted")


def test_echo_and_prompt_logprobs_score_the_prompt_as_generation_scored_it():
    # Generate with the raw log-probabilities of each drawn token, echoing the prompt.
    r = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=6, temperature=1, seed=5, echo=True,
        logprobs=2, extra_body={"dial": {"logprobs": "raw"}},
    )
    first = r.choices[0]
    assert first.text.startswith(PROMPT) and len(first.text) > len(PROMPT), first.text
    lp = first.logprobs
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None
    assert "".join(lp.tokens) == first.text, lp.tokens
    assert lp.text_offset == sorted(lp.text_offset) and lp.text_offset[-1] < len(first.text)
    assert all(x <= 0 for x in lp.token_logprobs[1:]) and all(len(t) <= 2 for t in lp.top_logprobs[1:])
    # Scoring the whole text (max_tokens 0) gives the generated tokens the numbers they
    # were drawn with: the prompt pass and the decode steps are one computation.
    scored = client.completions.create(
        model=MODEL, prompt=first.text, max_tokens=0, echo=True, logprobs=0,
    ).choices[0]
    assert scored.finish_reason == "length" and scored.text == first.text
    assert scored.logprobs.tokens == lp.tokens, (scored.logprobs.tokens, lp.tokens)
    for a, b in zip(scored.logprobs.token_logprobs[1:], lp.token_logprobs[1:]):
        assert abs(a - b) < 1e-5, (a, b)
    # vLLM's prompt_logprobs: null first, then the token (with its rank) and the top ones.
    c = client.completions.create(
        model=MODEL, prompt=PROMPT, max_tokens=1, temperature=0, extra_body={"prompt_logprobs": 2},
    ).choices[0]
    rows = c.model_extra["prompt_logprobs"]
    assert rows[0] is None and len(rows) == len(lp.tokens) - 6, rows
    for row, want in zip(rows[1:], lp.token_logprobs[1:]):
        assert 2 <= len(row) <= 3, row
        assert any(abs(e["logprob"] - want) < 1e-9 for e in row.values()), (row, want)
        assert sorted(e["rank"] for e in row.values())[0] == 1
    for bad, param in (({"max_tokens": 0}, "max_tokens"), ({"extra_body": {"prompt_logprobs": 21}}, "prompt_logprobs")):
        try:
            client.completions.create(model=MODEL, prompt=PROMPT, **{"max_tokens": 1, **bad})
        except openai.BadRequestError as e:
            assert e.param == param, e.message
        else:
            raise AssertionError(f"{bad} was accepted")


def test_guidance_scale_and_negative_prompt_steer_generation():
    # Processed log-probabilities: what the guided chain drew from (raw ones stay the
    # prompt's own distribution).
    processed = {"dial": {"logprobs": "processed"}}

    def ask(**extra):
        r = client.completions.create(
            model=MODEL, prompt="My favourite animal is the", max_tokens=10, seed=3,
            logprobs=1, extra_body={**processed, **extra},
        )
        return r.choices[0].text, r.choices[0].logprobs.token_logprobs

    plain = ask()
    # Scale 1 is no guidance: the same text and the same numbers.
    assert ask(guidance_scale=1, negative_prompt="cats and dogs") == plain
    # Scale 0 continues the negative prompt instead.
    soup = client.completions.create(
        model=MODEL, prompt="A recipe for soup:", max_tokens=10, seed=3, logprobs=1,
        extra_body=processed,
    ).choices[0]
    zero = ask(guidance_scale=0, negative_prompt="A recipe for soup:")
    assert zero[0] == soup.text, (zero[0], soup.text)
    assert all(abs(a - b) < 1e-4 for a, b in zip(zero[1], soup.logprobs.token_logprobs))
    assert ask(guidance_scale=3, negative_prompt="cats and dogs")[0] != plain[0]
    # Explain runs the negative prompt too: at scale 0 the next token is the one the
    # negative prompt alone would pick, and the chain names the stage.
    import urllib.error
    import urllib.request

    def explain(body):
        req = urllib.request.Request(
            URL + "/explain", method="POST", headers={"content-type": "application/json"},
            data=json.dumps({"model": MODEL, "top": 3, **body}).encode(),
        )
        return json.load(urllib.request.urlopen(req))

    guided = explain({"prompt": "My favourite animal is the", "guidance_scale": 0,
                      "negative_prompt": "A recipe for soup:"})
    alone = explain({"prompt": "A recipe for soup:"})
    assert "guidance" in json.dumps(guided["chain"]), guided["chain"]
    assert guided["rows"][0]["id"] == alone["rows"][0]["id"], (guided["rows"][0], alone["rows"][0])
    # A bare row of logits has no second sequence to guide against: a 400, not a no-op.
    try:
        explain({"logits": [1.0, 2.0, 3.0], "guidance_scale": 2})
    except urllib.error.HTTPError as e:
        assert e.code == 400, e.code
    else:
        raise AssertionError("explain of a bare row with guidance_scale was accepted")
    for bad in ({"guidance_scale": -1}, {"negative_prompt": "x"}):
        try:
            ask(**bad)
        except openai.BadRequestError as e:
            assert e.param in ("guidance_scale", "negative_prompt"), e.message
        else:
            raise AssertionError(f"{bad} was accepted")


def test_logprob_token_ids_report_the_named_tokens_at_every_step():
    import math
    first = client.completions.create(
        model=MODEL, prompt="Is the sky blue? Answer:", max_tokens=3, temperature=0,
        extra_body={"dial": {"trace": True}},
    )
    drawn = [t["id"] for t in first.model_extra["dial"]["tokens"]]
    named = [drawn[0], 1000, 2000]
    r = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Is the sky blue?"}], max_tokens=3,
        logprobs=True, extra_body={"logprob_token_ids": named, "seed": 1},
    )
    for t in r.choices[0].logprobs.content:
        assert len(t.top_logprobs) == 3, t
        assert sum(math.exp(a.logprob) for a in t.top_logprobs) <= 1 + 1e-6
    c = client.completions.create(
        model=MODEL, prompt="Is the sky blue? Answer:", max_tokens=3, temperature=0, logprobs=1,
        extra_body={"logprob_token_ids": named},
    )
    # At the first step the drawn token is the first named one: both report one number.
    top = c.choices[0].logprobs.top_logprobs[0]
    assert abs(top[c.choices[0].logprobs.tokens[0]] - c.choices[0].logprobs.token_logprobs[0]) < 1e-9
    for bad in ({"logprob_token_ids": [1 << 30]}, {"logprob_token_ids": list(range(300))}):
        try:
            client.completions.create(model=MODEL, prompt="x", max_tokens=1, logprobs=1, extra_body=bad)
        except openai.BadRequestError as e:
            assert e.param == "logprob_token_ids", e.message
        else:
            raise AssertionError(f"{bad} was accepted")


def test_eight_concurrent_seeded_streams_match_their_solo_runs():
    prompts = [f"Story {i}: Once upon a time" for i in range(8)]

    def run(i):
        text = []
        for chunk in client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompts[i]}],
            max_tokens=12,
            temperature=1.0,
            seed=i,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                text.append(chunk.choices[0].delta.content)
        return "".join(text)

    solo = [run(i) for i in range(8)]
    together = [None] * 8

    def worker(i):
        together[i] = run(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert together == solo, (together, solo)


def test_smollm2_chats_through_its_own_template_as_llama_cpp_does():
    # llama.cpp's greedy answers through the same file's ChatML template, recorded by
    # scripts/llama-cpp-references.
    assert MODELS == ["gemma-3-270m-q4_k_m", SMOLLM2], MODELS
    with open(os.path.join(HERE, "../../crates/model/tests/data/smollm2/chat.jsonl")) as f:
        cases = [json.loads(line) for line in f]
    assert len(cases) >= 2
    # By its id, and by the name it was fetched by.
    for case, name in zip(cases, [SMOLLM2, "smollm2"]):
        r = client.chat.completions.create(
            model=name, messages=case["messages"], temperature=0, max_tokens=case["max_tokens"]
        )
        assert r.model == SMOLLM2
        assert r.choices[0].message.content == case["content"], (r.choices[0].message, case)
        # The template's end of turn ends the answer, before max_tokens.
        assert r.choices[0].finish_reason == "stop"


# Structured outputs: the SDK's own helpers against dial. SmolLM2 follows instructions
# through its ChatML template; Gemma 3 270M (a base model) shows that the constraint, not
# the model, guarantees the shape.

from typing import List, Literal

import pydantic


class Colour(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=24)
    primary: bool


class Palette(pydantic.BaseModel):
    colours: List[Colour] = pydantic.Field(max_length=3)
    mood: Literal["warm", "cool", "neutral"]


class Weather(pydantic.BaseModel):
    city: str = pydantic.Field(max_length=24)
    unit: Literal["celsius", "fahrenheit"]


def test_chat_completions_parse_gives_the_pydantic_model():
    for model in (SMOLLM2, MODEL):
        r = client.chat.completions.parse(
            model=model,
            messages=[{"role": "user", "content": "Name the three primary colours as JSON."}],
            response_format=Palette,
            temperature=0.3,
            max_tokens=160,
            extra_body={"seed": 7},
        )
        choice = r.choices[0]
        assert choice.finish_reason == "stop", (model, choice)
        assert isinstance(choice.message.parsed, Palette), choice.message
        assert choice.message.refusal is None
        assert len(choice.message.parsed.colours) <= 3


def test_responses_parse_gives_the_pydantic_model():
    r = client.responses.parse(
        model=SMOLLM2,
        input="Describe a warm palette as JSON.",
        text_format=Palette,
        temperature=0.3,
        max_output_tokens=160,
        extra_body={"seed": 3},
    )
    assert r.status == "completed", r
    assert isinstance(r.output_parsed, Palette)
    assert r.text.format.type == "json_schema"


def test_a_pydantic_function_tool_with_tool_choice_required():
    tool = openai.pydantic_function_tool(Weather, name="get_weather", description="Weather in a city")
    for model in (SMOLLM2, MODEL):
        r = client.chat.completions.parse(
            model=model,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[tool],
            tool_choice="required",
            parallel_tool_calls=False,
            temperature=0.2,
            max_tokens=64,
            extra_body={"seed": 1},
        )
        choice = r.choices[0]
        assert choice.finish_reason == "tool_calls", (model, choice)
        calls = choice.message.tool_calls
        assert len(calls) == 1 and calls[0].function.name == "get_weather"
        assert isinstance(calls[0].function.parsed_arguments, Weather)
        assert choice.message.content is None
        # The loop goes on: the call and its result back, and an answer in text.
        follow = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "user", "content": "What is the weather in Paris?"},
                choice.message.model_dump(exclude_none=True, exclude={"parsed", "refusal"}) | {
                    "tool_calls": [c.model_dump(exclude={"function": {"parsed_arguments"}}) for c in calls]
                },
                {"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 21 degrees."},
            ],
            tools=[tool],
            tool_choice="none",
            max_tokens=24,
            extra_body={"seed": 1},
        )
        assert isinstance(follow.choices[0].message.content, str) and follow.choices[0].message.content


def test_a_responses_tool_loop():
    tool = {"type": "function", "name": "get_weather", "strict": True,
            "parameters": openai.pydantic_function_tool(Weather)["function"]["parameters"]}
    question = [{"role": "user", "content": "What is the weather in Paris?"}]
    r = client.responses.create(
        model=SMOLLM2, input=question, tools=[tool], tool_choice="required",
        parallel_tool_calls=False, max_output_tokens=64, extra_body={"seed": 2},
    )
    calls = [item for item in r.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather", r.output
    Weather.model_validate_json(calls[0].arguments)
    follow = client.responses.create(
        model=SMOLLM2,
        input=question + calls
        + [{"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 degrees."}],
        max_output_tokens=24,
        extra_body={"seed": 2},
    )
    assert follow.output_text, follow


def test_a_streamed_json_answer_concatenates_to_a_valid_document():
    # The SDK's strict form of the model's schema (no properties beyond the model's).
    schema = openai.pydantic_function_tool(Palette)["function"]["parameters"]
    text, finish = "", None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "A palette, please."}],
        response_format={"type": "json_schema", "json_schema": {"name": "palette", "schema": schema, "strict": True}},
        max_tokens=200,
        temperature=0.8,
        stream=True,
        extra_body={"seed": 11},
    )
    pieces = 0
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            pieces += 1
            finish = chunk.choices[0].finish_reason or finish
    assert finish == "stop", (finish, text)
    assert pieces > 3
    Palette.model_validate_json(text)


def test_structured_outputs_choice_on_completions():
    for seed in range(3):
        r = client.completions.create(
            model=MODEL,
            prompt="Is the sky blue? Answer:",
            max_tokens=8,
            extra_body={"seed": seed, "structured_outputs": {"choice": [" yes", " no"]}},
        )
        assert r.choices[0].text in (" yes", " no") and r.choices[0].finish_reason == "stop"


def test_every_bad_constraint_is_a_bad_request():
    strict = lambda schema: {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    cases = [
        (dict(response_format=strict({"type": "object", "properties": {"a": {"type": "strin"}}})), "invalid_schema"),
        (dict(response_format=strict({"type": "array", "uniqueItems": True})), "unsupported_schema_keyword"),
        (dict(extra_body={"structured_outputs": {"regex": "[^\\s\\S]"}}), "constraint_matches_nothing"),
        (dict(extra_body={"structured_outputs": {"regex": "a", "choice": ["b"]}}), "conflicting_parameters"),
        (dict(response_format={"type": "json_object"}, extra_body={"structured_outputs": {"regex": "a"}}), "conflicting_parameters"),
        (dict(extra_body={"structured_outputs": {"grammar": "start: nowhere"}}), "invalid_value"),
        (dict(extra_body={"guided_json": {"type": "object"}}), "unknown_parameter"),
    ]
    for kwargs, code in cases:
        try:
            client.chat.completions.create(
                model=SMOLLM2, messages=[{"role": "user", "content": "hi"}], max_tokens=4, **kwargs
            )
        except openai.BadRequestError as e:
            assert e.code == code, (kwargs, e.code, e.message)
        else:
            raise AssertionError(f"{kwargs} was accepted")


def main():
    tests = [(name, f) for name, f in sorted(globals().items()) if name.startswith("test_")]
    failed = 0
    for name, f in tests:
        try:
            f()
            print(f"ok   {name}")
        except Exception as e:  # report every failure, then exit non-zero
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed (openai {openai.__version__})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
