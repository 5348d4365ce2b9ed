"""A batch search gives exactly what each query's own search gives: the same hits, in the same
order, with bit-identical LRs, details and evidence (single references and couples)."""

import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_search import MODELS, profiles, tables

from kinmatch import AlleleFrequencies, MutationModel, Profile
from kinmatch.search import SEARCHABLE, Searcher
from kinmatch.store import ReferenceStore


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([r for r in SEARCHABLE if r != "parents-child"]),
    st.sampled_from(MODELS),
    st.sampled_from([0.0, 0.02]),
    tables(),
    st.integers(1, 4),
    st.data(),
)
def test_batch_equals_one_query_at_a_time(
    relationship: str,
    model: MutationModel,
    theta: float,
    frequencies: AlleleFrequencies,
    batch_size: int,
    data: st.DataObject,
) -> None:
    stored = [data.draw(profiles(f"R{i:02d}")) for i in range(data.draw(st.integers(2, 10)))]
    queries = [data.draw(profiles(f"Q{i}")) for i in range(data.draw(st.integers(1, 6)))]
    with tempfile.TemporaryDirectory() as tmp:
        store = ReferenceStore.create(tmp)
        store.ingest(stored)
        batch = Searcher(store, frequencies, theta=theta, mutation=model, batch_size=batch_size)
        single = Searcher(store, frequencies, theta=theta, mutation=model)
        together = batch.search_batch(queries, relationship, top_k=5, min_lr=1e-6)
        for query, result in zip(queries, together, strict=True):
            alone = single.search(query, relationship, top_k=5, min_lr=1e-6)
            assert result.error is None
            assert [h.reference_id for h in result.hits] == [h.reference_id for h in alone.hits]
            assert [h.lr for h in result.hits] == [h.lr for h in alone.hits]
            assert [h.details for h in result.hits] == [h.details for h in alone.hits]
            assert (result.n_scored, result.n_above_threshold) == (
                alone.n_scored, alone.n_above_threshold
            )  # fmt: skip
            assert batch.evidence(result) == single.evidence(alone)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(MODELS), st.sampled_from([0.0, 0.02]), tables(), st.data())
def test_couple_batch_equals_one_child_at_a_time(
    model: MutationModel, theta: float, frequencies: AlleleFrequencies, data: st.DataObject
) -> None:
    stored = []
    for case in range(data.draw(st.integers(1, 5))):
        for role, sex in (("father", "M"), ("mother", "F")):
            drawn = data.draw(profiles(f"{role[0].upper()}{case}"))
            stored.append(Profile(drawn.sample_id, drawn.genotypes, role=role,
                                  case_id=f"K{case}", sex=sex))  # fmt: skip
    children = [data.draw(profiles(f"Q{i}")) for i in range(data.draw(st.integers(1, 4)))]
    children = [Profile(c.sample_id, c.genotypes, role="unknown-origin") for c in children]
    with tempfile.TemporaryDirectory() as tmp:
        store = ReferenceStore.create(tmp)
        store.ingest(stored)
        batch = Searcher(store, frequencies, theta=theta, mutation=model, batch_size=2)
        single = Searcher(store, frequencies, theta=theta, mutation=model)
        together = batch.search_batch(children, "parents-child", top_k=5, min_lr=1e-6)
        for child, result in zip(children, together, strict=True):
            alone = single.search(child, "parents-child", top_k=5, min_lr=1e-6)
            assert [(h.reference_id, h.lr, h.details) for h in result.hits] == [
                (h.reference_id, h.lr, h.details) for h in alone.hits
            ]
            assert batch.evidence(result) == single.evidence(alone)
