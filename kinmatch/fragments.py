"""Fragment files of the reference store: genotype codes, the manifest, the Arrow table.

The pieces the store (:mod:`kinmatch.store`) and the bulk loader (:mod:`kinmatch.bulk`) share:
codes of unordered allele pairs, the manifest and its JSON form, the Arrow table of one
fragment and the atomic writes of a fragment file and of the manifest.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from kinmatch.alleles import Allele
from kinmatch.atomic import atomic_writer, fsync_path
from kinmatch.codes import (
    split_codes,
)
from kinmatch.errors import InputError, KinmatchError
from kinmatch.index import FragmentIndex, IndexBuild, UnusableIndexError, index_path, write_index
from kinmatch.profiles import ROLES

FORMAT = 1
WITHDRAWN_FORMAT = 2
"""The format of a manifest with tombstones: a reader that does not know them refuses it
rather than return a withdrawn profile."""
MANIFEST = "manifest.json"
FRAGMENTS = "fragments"
MISSING = 0
NO_ROLE = 255
SEXES = ("M", "F")
NO_SEX = 2
ROLE_CODES = {role: code for code, role in enumerate(ROLES)}


class StoreError(KinmatchError):
    """The directory is not a readable store, or a write could not be completed."""


class UnknownSampleError(StoreError):
    """No profile of the sample is in the store (never registered, or withdrawn)."""


class IngestError(KinmatchError):
    """A batch was refused; nothing was written. ``errors`` lists the bad records (the first
    :data:`SHOWN` of a bulk load: ``total`` counts them all and ``rejects`` lists them)."""

    def __init__(
        self, errors: Sequence[InputError], total: int | None = None, rejects: Path | None = None
    ) -> None:
        self.errors = tuple(errors)
        self.total = len(self.errors) if total is None else total
        self.rejects = rejects
        lines = "\n".join(f"  {error}" for error in self.errors)
        more = self.total - len(self.errors)
        if more:
            lines += f"\n  ... and {more} more"
        if rejects is not None:
            lines += f"\nevery bad record is listed in {rejects}"
        super().__init__(f"{self.total} bad records; nothing was written:\n{lines}")


SHOWN = 20
"""Bad records a bulk load keeps in memory (and shows) besides counting them."""
WITHDRAWN = "sample_id was withdrawn: registering it again needs an explicit request"


@dataclass(frozen=True)
class FragmentInfo:
    file: str
    rows: int
    loci: tuple[str, ...]
    generation: int = 0
    """The store version that committed the fragment (one per ingested batch)."""


def _generation_of(file: str) -> int:
    """The generation in a fragment's name (``frag-000012-...``), for manifests written before
    fragments recorded it."""
    try:
        return int(file.split("-")[1])
    except (IndexError, ValueError):
        raise StoreError(f"malformed manifest: fragment {file!r} has no generation") from None


@dataclass(frozen=True)
class Tombstone:
    """Sample ``sample_id`` withdrawn by store version ``generation``: its rows in fragments
    of earlier versions leave every later read (a row of a later version is the sample
    registered again). ``withdrawal`` names the withdrawal, ``reason`` is its code."""

    sample_id: str
    generation: int
    withdrawal: str
    reason: str
    erase: bool = False

    def covers(self, fragment_generation: int) -> bool:
        return fragment_generation < self.generation


@dataclass(frozen=True)
class Manifest:
    generation: int = 0
    loci: tuple[str, ...] = ()
    alleles: dict[str, tuple[Allele, ...]] = field(default_factory=dict)
    fragments: tuple[FragmentInfo, ...] = ()
    withdrawn: tuple[Tombstone, ...] = ()

    def files(self) -> set[str]:
        """The names of the files of ``fragments/`` the manifest names: each fragment and its
        index (:func:`kinmatch.index.index_path`)."""
        return {name for f in self.fragments for name in (f.file, index_path(Path(f.file)).name)}

    def tombstone(self, withdrawal: str) -> Tombstone | None:
        """The tombstone written by ``withdrawal``, if any."""
        return next((t for t in self.withdrawn if t.withdrawal == withdrawal), None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": WITHDRAWN_FORMAT if self.withdrawn else FORMAT,
                "generation": self.generation,
                "loci": list(self.loci),
                "alleles": {locus: list(alleles) for locus, alleles in self.alleles.items()},
                "fragments": [
                    {
                        "file": f.file,
                        "rows": f.rows,
                        "loci": list(f.loci),
                        "generation": f.generation,
                    }
                    for f in self.fragments
                ],
                **({"withdrawn": [dataclasses.asdict(t) for t in self.withdrawn]}
                   if self.withdrawn else {}),
            },
            indent=1,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise StoreError("not a manifest: the JSON text is not an object")
        if data.get("format") not in (FORMAT, WITHDRAWN_FORMAT):
            raise StoreError(f"unsupported store format {data.get('format')!r}")
        try:
            return cls(
                generation=int(data["generation"]),
                loci=tuple(data["loci"]),
                alleles={locus: tuple(alleles) for locus, alleles in data["alleles"].items()},
                fragments=tuple(
                    FragmentInfo(
                        f["file"],
                        int(f["rows"]),
                        tuple(f["loci"]),
                        int(f.get("generation", _generation_of(f["file"]))),
                    )
                    for f in data["fragments"]
                ),
                withdrawn=tuple(
                    Tombstone(str(t["sample_id"]), int(t["generation"]), str(t["withdrawal"]),
                              str(t["reason"]), bool(t.get("erase", False)))
                    for t in data.get("withdrawn", [])
                ),
            )  # fmt: skip
        except (KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"malformed manifest ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class EncodedBatch:
    """Profiles already encoded: genotype codes over ``loci`` against ``alleles``."""

    sample_ids: Sequence[str]
    roles: NDArray[np.uint8]
    sexes: NDArray[np.uint8]
    case_ids: Sequence[str | None]
    agencies: Sequence[str | None]
    loci: tuple[str, ...]
    alleles: dict[str, tuple[Allele, ...]]
    codes: NDArray[np.uint16]


def _signature_table() -> NDArray[np.uint8]:
    """Allele signature of every genotype code: bit (allele code mod 8) of each allele.

    Missing (code 0) is all bits, so an untyped locus never looks inconsistent.
    """
    lo, hi = split_codes(np.arange(1, 65536))
    table = np.full(65536, 0xFF, dtype=np.uint8)
    table[1:] = (1 << (lo % 8)) | (1 << (hi % 8))
    return table


SIGNATURES = _signature_table()


def fragment_table(batch: EncodedBatch, codes: NDArray[np.uint16], loci: list[str]) -> Any:
    now = datetime.now(UTC)
    n = len(batch.sample_ids)
    sample_ids = pa.array(batch.sample_ids, type=pa.string())
    columns = {
        "sample_id": sample_ids,
        "id_order": pc.sort_indices(sample_ids).cast(pa.uint32()),
        "role": pa.array(batch.roles, type=pa.uint8()),
        "sex": pa.array(batch.sexes, type=pa.uint8()),
        "case_id": pa.array(batch.case_ids, type=pa.string()),
        "agency": pa.array(batch.agencies, type=pa.string()),
        "ingest_time": pa.array(np.full(n, np.datetime64(now.replace(tzinfo=None), "us")),
                                type=pa.timestamp("us", tz="UTC")),
        "genotypes": pa.FixedSizeListArray.from_arrays(pa.array(codes.reshape(-1)), len(loci)),
        "signatures": pa.FixedSizeListArray.from_arrays(
            pa.array(SIGNATURES[codes].reshape(-1)), len(loci)
        ),
    }  # fmt: skip
    schema_metadata = {b"kinmatch.loci": json.dumps(loci).encode()}
    return pa.table(columns).replace_schema_metadata(schema_metadata)


def write_manifest(root: Path, manifest: Manifest) -> None:
    with atomic_writer(root / MANIFEST) as handle:
        handle.write(manifest.to_json())


def write_fragment(path: Path, table: Any) -> None:
    """Write ``table`` as an uncompressed Arrow IPC file at ``path`` (owner only), fsynced."""
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    path.chmod(0o600)
    fsync_path(path)


class Fragment:
    """One memory-mapped fragment; arrays are views of the mapped file."""

    def __init__(
        self,
        path: Path,
        info: FragmentInfo,
        withdrawn: Sequence[str] = (),
        n_alleles: Sequence[int] = (),
    ) -> None:
        """``withdrawn``: the sample IDs whose rows here are withdrawn (tombstones);
        ``n_alleles``: each fragment locus' dictionary size, to rebuild a missing index."""
        self.path = path
        self.info = info
        self._withdrawn_ids = tuple(withdrawn)
        self.n_alleles = tuple(n_alleles)
        self._index: FragmentIndex | None = None
        try:
            source = pa.memory_map(str(path), "r")
            table = pa.ipc.open_file(source).read_all()
        except (OSError, pa.ArrowInvalid) as exc:
            raise StoreError(f"{path}: unreadable fragment ({exc})") from None
        if table.num_rows != info.rows:
            raise StoreError(f"{path}: {table.num_rows} rows, manifest says {info.rows}")
        self.table = table

    def _column(self, name: str) -> pa.Array:
        column = self.table.column(name)
        # one record batch per fragment: its chunk is a view of the mapping (combining copies)
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()

    @property
    def rows(self) -> int:
        return self.info.rows

    @property
    def loci(self) -> tuple[str, ...]:
        return self.info.loci

    @property
    def codes(self) -> NDArray[np.uint16]:
        """Genotype codes, shape (rows, loci of this fragment), a view of the mapped file."""
        values = self._column("genotypes").values
        flat = values.to_numpy(zero_copy_only=True)
        return flat.reshape(self.rows, len(self.loci))  # type: ignore[no-any-return]

    @property
    def signatures(self) -> NDArray[np.uint8]:
        """Allele signatures (see :data:`SIGNATURES`), shape (rows, loci), memory-mapped."""
        values = self._column("signatures").values
        flat = values.to_numpy(zero_copy_only=True)
        return flat.reshape(self.rows, len(self.loci))  # type: ignore[no-any-return]

    @property
    def roles(self) -> NDArray[np.uint8]:
        return self._column("role").to_numpy(zero_copy_only=True)  # type: ignore[no-any-return]

    @property
    def sexes(self) -> NDArray[np.uint8]:
        return self._column("sex").to_numpy(zero_copy_only=True)  # type: ignore[no-any-return]

    @property
    def sample_ids(self) -> pa.Array:
        return self._column("sample_id")

    def find(self, sample_id: str) -> int | None:
        """Row of ``sample_id`` in this fragment, by binary search over the stored sort order."""
        ids = self.sample_ids
        order = self._column("id_order").to_numpy(zero_copy_only=True)
        lo, hi = 0, self.rows
        while lo < hi:
            mid = (lo + hi) // 2
            if ids[int(order[mid])].as_py() < sample_id:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.rows and ids[int(order[lo])].as_py() == sample_id:
            return int(order[lo])
        return None

    @property
    def case_ids(self) -> pa.Array:
        return self._column("case_id")

    @property
    def index(self) -> FragmentIndex:
        """The fragment's candidate index (:mod:`kinmatch.index`), memory-mapped; written
        again from the codes when missing or unusable (a store written before the index)."""
        if self._index is None:
            try:
                self._index = FragmentIndex(index_path(self.path), self.rows, len(self.loci))
            except UnusableIndexError:
                self.write_index()
                self._index = FragmentIndex(index_path(self.path), self.rows, len(self.loci))
        return self._index

    def write_index(self) -> IndexBuild:
        """Write the fragment's index file (atomically; see :func:`kinmatch.index.write_index`)."""
        if len(self.n_alleles) != len(self.loci):
            raise StoreError(f"{self.path}: no dictionary sizes to index the fragment with")
        try:
            return write_index(self.path, self.codes, self.roles, self.n_alleles)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write its index ({exc.strerror})") from None

    @functools.cached_property
    def withdrawn(self) -> NDArray[np.int64]:
        """Rows of withdrawn samples, which no read returns (empty without tombstones)."""
        if not self._withdrawn_ids:
            return np.zeros(0, dtype=np.int64)
        ids = pa.array(self._withdrawn_ids, type=pa.string())
        hits = pc.is_in(self.sample_ids, value_set=ids).to_numpy(zero_copy_only=False)
        return np.flatnonzero(hits)

    def live(self, row: int) -> bool:
        return not np.any(self.withdrawn == row)

    def live_ids(self) -> pa.Array:
        """Sample IDs of the rows not withdrawn."""
        if not len(self.withdrawn):
            return self.sample_ids
        return self.sample_ids.take(pa.array(self.live_rows()))

    def live_rows(self) -> NDArray[np.int64]:
        """The rows not withdrawn."""
        keep = np.ones(self.rows, dtype=bool)
        keep[self.withdrawn] = False
        return np.flatnonzero(keep)
