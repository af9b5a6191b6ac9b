"""Where a message's answer is kept (`Keys.answer`): distinct messages never share a slot in a
hash, a hash holds one source partition's run of 65,536 offsets, it carries the partition's
hash tag, and it never takes the name of an answer string of the earlier layout."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamproc.state.redis.keys import ANSWER_BITS, Keys

topics = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd"),
                               whitelist_characters="._-"), min_size=1, max_size=20)
origins = st.tuples(topics, st.integers(0, 1000), st.integers(0, 2**63 - 1)).map(
    lambda t: f"{t[0]}/{t[1]}/{t[2]}")
anything = st.one_of(origins, st.text(max_size=30))


@given(st.integers(0, 63), anything, anything)
def test_distinct_messages_never_share_an_answer(p, a, b):
    k = Keys("sp")
    assert (k.answer(p, a) == k.answer(p, b)) == (a == b)
    key, _ = k.answer(p, a)
    assert key.startswith(f"sp:o:{{{p}}}:"), "the partition's slot"


@given(topics, st.integers(0, 1000), st.integers(0, 2**40), st.integers(0, 2**40))
def test_a_hash_holds_a_run_of_offsets_of_one_source_partition(topic, part, x, y):
    k = Keys("sp")
    kx, fx = k.answer(3, f"{topic}/{part}/{x}")
    ky, _ = k.answer(3, f"{topic}/{part}/{y}")
    assert (kx == ky) == (x >> ANSWER_BITS == y >> ANSWER_BITS)
    assert fx == str(x)
    assert kx != k.answer(3, f"{topic}/{part + 1}/{x}")[0]


@given(origins)
def test_never_the_name_of_an_earlier_answer_string(origin):
    # the earlier layout: `sp:o:{P}:<topic>/<partition>/<offset>`, a string a message
    k = Keys("sp")
    assert k.answer(0, origin)[0] != f"sp:o:{{0}}:{origin}"
    assert k.answer(0, origin)[0].count("/") == origin.count("/") - 1
