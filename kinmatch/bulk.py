"""Bulk loading: profile CSV files of any size into one atomic batch, in bounded memory.

The store (:meth:`~kinmatch.store.ReferenceStore.ingest_csv`) holds its lock throughout and
hands the loader its manifest; the loader

1. reads each file in chunks (:func:`kinmatch.chunks.read_chunks`), streams the chunk's bad
   records to the rejects file, encodes the good ones against the store's dictionaries (which
   only grow) and spills them as a fragment file ``fragments/.tmp-<batch>-<n>.arrow``;
2. writes each record's sample ID, file, line and status to one of several hash partitions
   (``fragments/.tmp-<batch>-ids-<p>.arrow``), then reads one partition at a time to find the
   sample IDs repeated within the batch or already stored, with the messages of the reader
   (``duplicate sample_id (first seen on line 2)``, ``already in the store``, ``already in
   this batch``);
3. refuses the batch when there was any bad record (unless ``skip_invalid``: then the
   fragments holding rejected duplicates are rewritten without them) and otherwise returns
   the spilled fragments and the new manifest for the store to commit: rename the fragments,
   then replace the manifest.

Everything temporary lives in the store's ``fragments/`` directory under the store's lock, so
no other ingest's clean-up removes it, and the next ingest removes whatever a killed one left.
Memory: one chunk, one partition of sample IDs and the first :data:`SHOWN` errors.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from kinmatch.alleles import Allele, Genotype, sort_alleles
from kinmatch.atomic import atomic_writer, fsync_path
from kinmatch.chunks import BAD, BLOCK_BYTES, EMPTY, OK, REAPPEARS, Chunk, read_chunks
from kinmatch.codes import genotype_code, n_genotype_codes
from kinmatch.errors import InputError, ProfileError
from kinmatch.fragments import (
    FRAGMENTS,
    SHOWN,
    WITHDRAWN,
    EncodedBatch,
    FragmentInfo,
    IngestError,
    Manifest,
    StoreError,
    fragment_table,
    write_fragment,
)
from kinmatch.loci import locus_sort_key

Progress = Callable[[int, int, int], None]
"""Called after each chunk with (bytes read, bytes in all files, records read)."""

PARTITION_BYTES = 32 << 20  # input bytes per partition of sample IDs
REJECT_COLUMNS = ("file", "line", "sample", "locus", "field", "reason")
REJECTS = "rejects"
"""The store's directory of rejects files (unless an ingest names another)."""
_IDS = pa.schema([("id", pa.string()), ("file", pa.int32()), ("line", pa.int64()),
                  ("status", pa.uint8()), ("chunk", pa.int32()), ("row", pa.int32())])  # fmt: skip


@dataclass(frozen=True)
class SpilledFragment:
    """A fragment of the batch, written and fsynced under its temporary name."""

    temporary: Path
    info: FragmentInfo


@dataclass
class BulkResult:
    """What the loader leaves for the store to commit and report."""

    fragments: list[SpilledFragment]
    manifest: Manifest
    added: int
    loci_seen: tuple[str, ...]
    rejected: tuple[InputError, ...]
    n_rejected: int
    rejects: Path | None


class Rejects:
    """The rejects CSV (file, line, sample, locus, field, reason), streamed; kept only when
    some record was bad. The first :data:`SHOWN` errors are kept in memory to be shown."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        self._handle: TextIO = self.temporary.open("w", encoding="utf-8", newline="")
        self.temporary.chmod(0o600)
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._writer.writerow(REJECT_COLUMNS)
        self.count = 0
        self.first: list[InputError] = []

    def add(self, errors: Sequence[InputError]) -> None:
        for error in errors:
            row = (error.source, error.line, error.sample, error.locus, error.field, error.reason)
            self._writer.writerow(["" if value is None else value for value in row])
            if len(self.first) < SHOWN:
                self.first.append(error)
        self.count += len(errors)

    def close(self, keep: bool) -> Path | None:
        """Finish the file (renamed into place) when ``keep`` and some record was bad."""
        if self._handle.closed:
            return self.path if self.path.exists() and keep else None
        self._handle.close()
        if keep and self.count:
            fsync_path(self.temporary)
            self.temporary.replace(self.path)
            fsync_path(self.path.parent)
            return self.path
        self.temporary.unlink(missing_ok=True)
        return None


def erase_rejects(directory: Path, sample_id: str) -> int:
    """Rewrite (atomically) every rejects CSV in ``directory`` without the rows of
    ``sample_id``, whose reasons may quote its genotypes; the rows removed."""
    removed = 0
    for path in sorted(directory.glob("*.csv")) if directory.is_dir() else ():
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        sample = REJECT_COLUMNS.index("sample")
        kept = [row for row in rows[1:] if len(row) <= sample or row[sample] != sample_id]
        if len(kept) == len(rows) - 1:
            continue
        with atomic_writer(path) as handle:
            csv.writer(handle, lineterminator="\n").writerows([rows[0], *kept])
        path.chmod(0o600)
        removed += len(rows) - 1 - len(kept)
    return removed


class BulkLoader:
    """Loads CSV files as one batch of spilled fragments (see the module docstring).

    Use as a context manager: leaving it removes every temporary file the store did not
    commit (on a refusal, an error or success alike).
    """

    def __init__(
        self,
        root: Path,
        manifest: Manifest,
        stored_ids: Sequence[pa.Array],
        *,
        withdrawn: Sequence[str] = (),
        rejects: Path | None = None,
        chunk_bytes: int | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.stored_ids = stored_ids
        self.withdrawn = pa.array(list(withdrawn), type=pa.string())
        self.tag = uuid.uuid4().hex[:8]
        self.generation = manifest.generation + 1
        self.chunk_bytes = chunk_bytes or BLOCK_BYTES
        self.progress = progress
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.rejects_path = rejects or root / REJECTS / f"ingest-{stamp}-{self.tag}.csv"
        self.temporaries: list[Path] = []
        self._rejects: Rejects | None = None

    def __enter__(self) -> BulkLoader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rejects is not None:
            self._rejects.close(keep=kind is None or isinstance(error, IngestError))
        for path in self.temporaries:
            path.unlink(missing_ok=True)

    def _temporary(self, name: str) -> Path:
        path = self.root / FRAGMENTS / f".tmp-{self.tag}-{name}.arrow"
        self.temporaries.append(path)
        return path

    def load(
        self, paths: Sequence[Path], *, skip_invalid: bool, ignore_unknown_loci: bool
    ) -> BulkResult:
        """Read, validate, spill and check the batch; raise :class:`IngestError` when it is
        refused (nothing is then left behind but the rejects file)."""
        self._rejects = rejects = Rejects(self.rejects_path)
        total = sum(path.stat().st_size for path in paths)
        encoder = _Encoder(self.manifest)
        partitions = _Partitions(self, max(1, min(256, total // PARTITION_BYTES + 1)))
        spilled: list[SpilledFragment] = []
        done = records = 0
        layouts: list[str] = []
        for file_no, path in enumerate(paths):
            layouts.append("wide")
            for chunk in read_chunks(path, ignore_unknown_loci=ignore_unknown_loci,
                                     block_bytes=self.chunk_bytes):  # fmt: skip
                rejects.add(chunk.errors)
                layouts[file_no] = chunk.layout
                good = chunk.status == OK
                rows = np.full(len(good), -1, dtype=np.int32)
                rows[good] = np.arange(int(good.sum()), dtype=np.int32)
                partitions.add(chunk, file_no, len(spilled), rows)
                if good.any():
                    spilled.append(self._spill(encoder, chunk, good, len(spilled)))
                else:
                    spilled.append(SpilledFragment(Path(), FragmentInfo("", 0, ())))
                records += len(chunk.lines)
                if self.progress is not None:
                    self.progress(done + chunk.end, total, records)
            done += path.stat().st_size
        partitions.close()
        drops: dict[int, list[int]] = {}
        sources = [str(path) for path in paths]
        for index in range(partitions.count):
            errors, dropped = _resolve_partition(
                partitions.read(index), sources, layouts, self.stored_ids, self.withdrawn
            )
            rejects.add(errors)
            for chunk_no, row in dropped:
                drops.setdefault(chunk_no, []).append(row)
        if rejects.count and not skip_invalid:
            raise IngestError(rejects.first, rejects.count, rejects.close(keep=True))
        kept = [self._rewrite(s, drops.get(n, [])) for n, s in enumerate(spilled) if s.info.rows]
        kept = [s for s in kept if s.info.rows]
        added = sum(s.info.rows for s in kept)
        loci = kept[-1].info.loci if kept else self.manifest.loci
        manifest = Manifest(self.generation, tuple(loci) if kept else self.manifest.loci,
                            encoder.manifest_alleles() if kept else self.manifest.alleles,
                            (*self.manifest.fragments, *(s.info for s in kept)),
                            self.manifest.withdrawn)  # fmt: skip
        seen = tuple(sorted(encoder.seen, key=locus_sort_key))
        return BulkResult(kept, manifest, added, seen, tuple(rejects.first), rejects.count,
                          rejects.close(keep=True))  # fmt: skip

    def _spill(
        self, encoder: _Encoder, chunk: Chunk, good: NDArray[np.bool_], number: int
    ) -> SpilledFragment:
        """Encode the chunk's good records and write them as a temporary fragment."""
        codes, loci = encoder.encode(chunk, good)
        rows = np.flatnonzero(good).tolist()
        batch = EncodedBatch(
            sample_ids=[chunk.sample_ids[i] for i in rows],
            roles=chunk.roles[good], sexes=chunk.sexes[good],
            case_ids=[chunk.case_ids[i] for i in rows], agencies=[chunk.agencies[i] for i in rows],
            loci=loci, alleles={}, codes=codes,
        )  # fmt: skip
        path = self._temporary(f"{number:06d}")
        write_fragment(path, fragment_table(batch, codes, list(loci)))
        name = f"frag-{self.generation:06d}-{self.tag}-{number:06d}.arrow"
        return SpilledFragment(path, FragmentInfo(name, len(rows), loci, self.generation))

    def _rewrite(self, spilled: SpilledFragment, rows: list[int]) -> SpilledFragment:
        """The fragment without ``rows`` (rejected duplicates), rewritten when there are any."""
        if not rows:
            return spilled
        with pa.memory_map(str(spilled.temporary), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        keep = np.ones(table.num_rows, dtype=bool)
        keep[rows] = False
        table = table.filter(pa.array(keep))
        order = pc.sort_indices(table.column("sample_id")).cast(pa.uint32())
        table = table.set_column(table.schema.get_field_index("id_order"), "id_order", order)
        path = self._temporary(f"{spilled.temporary.stem}-kept")
        write_fragment(path, table)
        spilled.temporary.unlink()
        info = FragmentInfo(spilled.info.file, table.num_rows, spilled.info.loci,
                            spilled.info.generation)  # fmt: skip
        return SpilledFragment(path, info)


class _Encoder:
    """Genotype codes against the store's dictionaries, grown chunk by chunk (new alleles
    and loci are appended in their sort order, so earlier codes keep their meaning)."""

    def __init__(self, manifest: Manifest) -> None:
        self.loci = list(manifest.loci)
        self.alleles = {locus: list(alleles) for locus, alleles in manifest.alleles.items()}
        self.position = {locus: {a: i for i, a in enumerate(alleles)}
                         for locus, alleles in self.alleles.items()}  # fmt: skip
        self.seen: set[str] = set()

    def encode(
        self, chunk: Chunk, good: NDArray[np.bool_]
    ) -> tuple[NDArray[np.uint16], tuple[str, ...]]:
        used: dict[str, tuple[list[Genotype | None], list[int], NDArray[np.int64]]] = {}
        for locus, (values, index) in chunk.genotypes.items():
            selected = index[good]
            present = [k for k in np.unique(selected).tolist() if values[k] is not None]
            if present:
                used[locus] = (values, present, selected)
                self._grow(locus, {a for k in present for a in values[k]})
        self.loci += sorted(set(used) - set(self.loci), key=locus_sort_key)
        self.seen.update(used)
        codes = np.zeros((int(good.sum()), len(self.loci)), dtype=np.uint16)
        for locus, (values, present, selected) in used.items():
            position = self.position[locus]
            table = np.zeros(len(values), dtype=np.uint16)
            for k in present:
                genotype = values[k]
                assert genotype is not None  # present: typed values only
                table[k] = genotype_code(position[genotype[0]], position[genotype[1]])
            codes[:, self.loci.index(locus)] = table[selected]
        return codes, tuple(self.loci)

    def _grow(self, locus: str, alleles: set[Allele]) -> None:
        dictionary = self.alleles.setdefault(locus, [])
        position = self.position.setdefault(locus, {})
        for allele in sort_alleles(alleles - set(position)):
            position[allele] = len(dictionary)
            dictionary.append(allele)
        if n_genotype_codes(len(dictionary)) > 65535:
            raise StoreError(f"locus {locus} has too many alleles for 16-bit codes")

    def manifest_alleles(self) -> dict[str, tuple[Allele, ...]]:
        return {locus: tuple(alleles) for locus, alleles in self.alleles.items()}


@dataclass
class _Partitions:
    """Sample IDs by hash, one Arrow stream file per partition."""

    loader: BulkLoader
    count: int
    paths: list[Path] = field(default_factory=list)
    writers: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        for index in range(self.count):
            path = self.loader._temporary(f"ids-{index:03d}")
            self.paths.append(path)
            self.writers.append(pa.ipc.new_stream(str(path), _IDS))

    def add(self, chunk: Chunk, file_no: int, chunk_no: int, rows: NDArray[np.int32]) -> None:
        named = np.array([bool(sid) for sid in chunk.sample_ids], dtype=bool)
        if not named.any():
            return
        table = pa.table({
            "id": pa.array(chunk.sample_ids, type=pa.string()),
            "file": pa.array(np.full(len(named), file_no, dtype=np.int32)),
            "line": pa.array(chunk.lines), "status": pa.array(chunk.status),
            "chunk": pa.array(np.full(len(named), chunk_no, dtype=np.int32)),
            "row": pa.array(rows),
        }, schema=_IDS).filter(pa.array(named))  # fmt: skip
        parts = np.array([hash(sid) % self.count for sid in table.column("id").to_pylist()])
        for index in np.unique(parts).tolist():
            self.writers[index].write_table(table.filter(pa.array(parts == index)))

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def read(self, index: int) -> pa.Table:
        with pa.memory_map(str(self.paths[index]), "r") as source:
            return pa.ipc.open_stream(source).read_all()


def _resolve_partition(
    table: pa.Table,
    sources: Sequence[str],
    layouts: Sequence[str],
    stored_ids: Sequence[pa.Array],
    withdrawn: pa.Array,
) -> tuple[list[InputError], list[tuple[int, int]]]:
    """Errors of repeated, stored, withdrawn and empty samples of one partition, and the
    spilled rows (chunk, row) to drop. Only sample IDs with something to say are handled in
    Python."""
    if not table.num_rows:
        return [], []
    ids = table.column("id")
    counts = table.group_by("id").aggregate([("id", "count")])
    repeated = counts.filter(pc.greater(counts.column("id_count"), 1)).column("id")
    unique = counts.column("id")
    stored: set[str] = set()
    for fragment_ids in stored_ids:
        stored.update(fragment_ids.filter(pc.is_in(fragment_ids, value_set=unique)).to_pylist())
    gone = set(unique.filter(pc.is_in(unique, value_set=withdrawn)).to_pylist())
    stored |= gone
    mask = pc.or_(pc.is_in(ids, value_set=repeated),
                  pc.not_equal(table.column("status"), OK))  # fmt: skip
    if stored:
        mask = pc.or_(mask, pc.is_in(ids, value_set=pa.array(sorted(stored), type=pa.string())))
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in table.filter(mask).to_pylist():
        groups.setdefault(record["id"], []).append(record)
    errors: list[InputError] = []
    drops: list[tuple[int, int]] = []
    for sample, records in groups.items():
        records.sort(key=lambda r: (r["file"], r["line"]))
        survivors = []
        for _, in_file in _by_file(records):
            drafts = [r for r in in_file if r["status"] != BAD]
            for r in drafts[1:]:
                again = (
                    REAPPEARS.format(first=drafts[0]["line"])
                    if layouts[r["file"]] == "long"
                    else f"duplicate sample_id (first seen on line {drafts[0]['line']})"
                )
                errors.append(_located(ProfileError(again, field="sample_id"), sources, r))
            if len(drafts) == 1 and len(drafts) == len(in_file):
                survivors.append(drafts[0])
            else:
                drops += [(r["chunk"], r["row"]) for r in drafts if r["status"] == OK]
        kept = False
        for r in survivors:
            if r["status"] == EMPTY:
                error = ProfileError("no typed autosomal locus: nothing to compare")
            elif sample in gone:
                error = ProfileError(WITHDRAWN, field="sample_id")
            elif sample in stored or kept:
                where = "in the store" if sample in stored else "in this batch"
                error = ProfileError(f"duplicate sample_id: already {where}", field="sample_id")
            else:
                kept = True
                continue
            errors.append(_located(error, sources, r))
            if r["status"] == OK:
                drops.append((r["chunk"], r["row"]))
    errors.sort(key=lambda e: (sources.index(e.source or ""), e.line or 0))
    return errors, drops


def _by_file(records: list[dict[str, Any]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    start = 0
    for i in range(1, len(records) + 1):
        if i == len(records) or records[i]["file"] != records[start]["file"]:
            yield records[start]["file"], records[start:i]
            start = i


def _located(error: InputError, sources: Sequence[str], record: dict[str, Any]) -> InputError:
    return error.located(source=sources[record["file"]], line=record["line"],
                         sample=record["id"])  # fmt: skip
