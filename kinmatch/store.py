"""The reference store: profiles in memory-mapped Arrow IPC fragments plus a JSON manifest.

Layout of a store directory::

    manifest.json              loci, per-locus allele dictionaries, fragment list, generation
    fragments/frag-*.arrow     uncompressed Arrow IPC files, one per ingested batch
    .lock                      held while a batch is being written

Each fragment holds the metadata columns ``sample_id``, ``role`` and ``sex`` (small codes),
``case_id``, ``agency`` and ``ingest_time``, and ``genotypes``: one fixed-size list of
``uint16`` genotype codes per profile, one code per locus of the fragment. A code indexes the
unordered pair of allele codes (see :func:`genotype_code`); code 0 means the locus is
missing, never a fake allele. Allele codes are positions in the locus' dictionary, which only
grows, so codes written earlier keep their meaning.

Writes are atomic: a batch is validated whole, written to a temporary file, fsynced, renamed
into ``fragments/``, and only then is the manifest replaced (write, fsync, rename). A process
killed at any point leaves a store with all or none of the batch; files no manifest names are
ignored and removed by the next ingest. Reads memory-map the fragments, so opening a store
reads no genotypes into private memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kinmatch.alleles import Allele, make_genotype, sort_alleles
from kinmatch.atomic import fsync_path
from kinmatch.bulk import BulkLoader, Progress, SpilledFragment
from kinmatch.codes import (
    genotype_alleles,
    genotype_code,
    genotype_codes,
    n_genotype_codes,
    split_codes,
)
from kinmatch.errors import InputError, ProfileError
from kinmatch.fragments import (
    FRAGMENTS,
    MANIFEST,
    MISSING,
    NO_ROLE,
    NO_SEX,
    ROLE_CODES,
    SEXES,
    SIGNATURES,
    WITHDRAWN,
    EncodedBatch,
    Fragment,
    FragmentInfo,
    IngestError,
    Manifest,
    StoreError,
    Tombstone,
    UnknownSampleError,
    fragment_table,
    write_fragment,
    write_manifest,
)
from kinmatch.index import write_index
from kinmatch.loci import locus_sort_key
from kinmatch.profiles import ROLES, Profile

__all__ = [
    "MISSING", "NO_ROLE", "NO_SEX", "ROLE_CODES", "SEXES", "SIGNATURES", "EncodedBatch",
    "Fragment", "FragmentInfo", "IngestError", "IngestReport", "Manifest", "ReferenceStore",
    "StoreError", "genotype_alleles", "genotype_code", "genotype_codes", "n_genotype_codes",
    "split_codes",
]  # fmt: skip


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did."""

    added: int
    loci_seen: tuple[str, ...]
    rejected: tuple[InputError, ...]
    generation: int
    n_rejected: int | None = None
    """Every rejected record (``rejected`` may hold only the first few); None: all shown."""
    rejects: Path | None = None
    """The rejects file listing every one (bulk loads with rejected records)."""

    @property
    def rejected_count(self) -> int:
        return len(self.rejected) if self.n_rejected is None else self.n_rejected


WITHDRAWING_LOCK = ".withdrawing.lock"


@dataclass(frozen=True)
class Compaction:
    """What :meth:`ReferenceStore.compact` did: the store version it committed (the current
    one when there was nothing to do), the withdrawn rows removed, the fragments rewritten."""

    generation: int
    removed: int
    rewritten: int


class ReferenceStore:
    """A directory of reference profiles (see the module docstring)."""

    def __init__(self, path: Path, manifest: Manifest) -> None:
        self.path = path
        self.manifest = manifest
        self._fragments: list[Fragment] | None = None

    @classmethod
    def create(cls, path: str | Path) -> ReferenceStore:
        """Create an empty store; the directory must not hold one already."""
        root = Path(path)
        if (root / MANIFEST).exists():
            raise StoreError(f"{root} already holds a store")
        try:
            (root / FRAGMENTS).mkdir(mode=0o700, parents=True, exist_ok=True)
            root.chmod(0o700)  # genetic data: owner only
            write_manifest(root, Manifest())
        except OSError as exc:
            raise StoreError(f"{root}: cannot create a store ({exc.strerror})") from None
        return cls(root, Manifest())

    @classmethod
    def open(cls, path: str | Path) -> ReferenceStore:
        """Open an existing store; nothing is read but the manifest."""
        root = Path(path)
        try:
            manifest = Manifest.from_json((root / MANIFEST).read_text())
        except FileNotFoundError:
            raise StoreError(f"{root} is not a kinmatch store (no {MANIFEST})") from None
        except StoreError as exc:
            raise StoreError(f"{root}/{MANIFEST}: {exc}") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{root}/{MANIFEST}: unreadable manifest ({exc})") from None
        return cls(root, manifest)

    @classmethod
    def open_or_create(cls, path: str | Path) -> ReferenceStore:
        root = Path(path)
        return cls.open(root) if (root / MANIFEST).exists() else cls.create(root)

    @property
    def generation(self) -> int:
        return self.manifest.generation

    @property
    def loci(self) -> tuple[str, ...]:
        return self.manifest.loci

    def alleles(self, locus: str) -> tuple[Allele, ...]:
        """The dictionary of ``locus``: allele code -> allele."""
        return self.manifest.alleles.get(locus, ())

    def __len__(self) -> int:
        return sum(f.rows for f in self.manifest.fragments)

    @property
    def fragments(self) -> list[Fragment]:
        """Memory-mapped fragments, opened on first use, each knowing its withdrawn rows.

        A fragment a compaction replaced since this store's manifest was read is gone: the
        manifest is read again (a fragment mapped earlier stays readable until released)."""
        if self._fragments is None:
            try:
                self._fragments = self._open_fragments()
            except StoreError:
                if ReferenceStore.open(self.path).manifest == self.manifest:
                    raise
                self.refresh()
                self._fragments = self._open_fragments()
        return self._fragments

    def _open_fragments(self) -> list[Fragment]:
        tombstones = self.manifest.withdrawn
        return [
            Fragment(self.path / FRAGMENTS / info.file, info,
                     sorted({t.sample_id for t in tombstones if t.covers(info.generation)}),
                     self._n_alleles(info))
            for info in self.manifest.fragments
        ]  # fmt: skip

    def _n_alleles(self, info: FragmentInfo) -> list[int]:
        return [len(self.manifest.alleles.get(locus, ())) for locus in info.loci]

    def as_of(self, generation: int) -> ReferenceStore:
        """The store as it was when ``generation`` was committed: the fragments of that batch
        and the earlier ones (read-only; the allele dictionaries of today, which only grew,
        so every code keeps its meaning), less every sample withdrawn since."""
        if not 0 <= generation <= self.generation:
            raise StoreError(f"{self.path}: no store version {generation} (the newest is "
                             f"{self.generation})")  # fmt: skip
        fragments = tuple(f for f in self.manifest.fragments if f.generation <= generation)
        # every tombstone of today applies: a profile withdrawn later is out of earlier
        # versions too, so that no late comparison of theirs returns it
        return ReferenceStore(self.path, dataclasses.replace(self.manifest, generation=generation,
                                                             fragments=fragments))  # fmt: skip

    def stored(self, sample_ids: Sequence[str]) -> set[str]:
        """Which of ``sample_ids`` the store holds (not withdrawn; a hash look-up per
        fragment in Arrow: never the whole store's IDs in Python)."""
        wanted = pa.array(list(sample_ids), type=pa.string())
        found: set[str] = set()
        for fragment in self.fragments:
            hits = pc.is_in(wanted, value_set=fragment.live_ids())
            found.update(wanted.filter(hits).to_pylist())
        return found

    def withdrawn(self, sample_ids: Sequence[str]) -> dict[str, Tombstone]:
        """Which of ``sample_ids`` were withdrawn and not registered again: their tombstones."""
        latest = {t.sample_id: t for t in self.manifest.withdrawn}
        wanted = [s for s in sample_ids if s in latest]
        live = self.stored(wanted) if wanted else set()
        return {s: latest[s] for s in wanted if s not in live}

    def find(self, sample_id: str) -> tuple[Fragment, int] | None:
        """The fragment and row of ``sample_id``'s profile (not withdrawn), if any."""
        for fragment in reversed(self.fragments):
            row = fragment.find(sample_id)
            if row is not None and fragment.live(row):
                return fragment, row
        return None

    def decode(self, fragment: Fragment, row: int) -> Profile:
        """The profile stored at ``row`` of ``fragment``."""
        genotypes = {}
        for locus, code in zip(fragment.loci, fragment.codes[row].tolist(), strict=True):
            if code != MISSING:
                first, second = genotype_alleles(code)
                dictionary = self.alleles(locus)
                genotypes[locus] = make_genotype(dictionary[first], dictionary[second])
        role = int(fragment.roles[row])
        sex = int(fragment.sexes[row])
        return Profile(
            sample_id=str(fragment.sample_ids[row]),
            genotypes=genotypes,
            role=ROLES[role] if role != NO_ROLE else None,
            case_id=fragment.case_ids[row].as_py(),
            sex=SEXES[sex] if sex != NO_SEX else None,
            agency=fragment.table.column("agency")[row].as_py(),
        )

    def profiles(self) -> Iterator[Profile]:
        """Every stored profile (not withdrawn), decoded (slow; for export and tests)."""
        for fragment in self.fragments:
            for row in fragment.live_rows().tolist():
                yield self.decode(fragment, row)

    def ingest_csv(
        self,
        paths: Sequence[str | Path],
        *,
        skip_invalid: bool = False,
        ignore_unknown_loci: bool = False,
        rejects: str | Path | None = None,
        chunk_bytes: int | None = None,
        progress: Progress | None = None,
        register_again: Collection[str] = (),
    ) -> IngestReport:
        """Validate every record of ``paths``, then append them as one atomic batch.

        Any bad record (or a sample already in the store or repeated across files) refuses the
        whole batch with :class:`IngestError`, unless ``skip_invalid``: then the good samples
        are added. Either way every bad record is written to the ``rejects`` CSV (default:
        ``rejects/`` in the store). Read in chunks of about ``chunk_bytes`` by
        :class:`~kinmatch.bulk.BulkLoader`, so memory stays bounded; see :mod:`kinmatch.bulk`.
        A withdrawn sample is refused unless ``register_again`` names it (then it is a new
        profile: the caller asked explicitly).
        """
        with self._lock():
            self.refresh()
            again = set(register_again)
            withdrawn = [s for s in self._withdrawn_ids() if s not in again]
            loader = BulkLoader(self.path, self.manifest, [f.live_ids() for f in self.fragments],
                                withdrawn=withdrawn,
                                rejects=None if rejects is None else Path(rejects),
                                chunk_bytes=chunk_bytes, progress=progress)  # fmt: skip
            with loader:
                result = loader.load([Path(p) for p in paths], skip_invalid=skip_invalid,
                                     ignore_unknown_loci=ignore_unknown_loci)  # fmt: skip
                if result.fragments:
                    self._commit(result.fragments, result.manifest)
            self._remove_orphans()
            return IngestReport(result.added, result.loci_seen, result.rejected, self.generation,
                                result.n_rejected, result.rejects)  # fmt: skip

    def ingest(
        self, profiles: Iterable[Profile], *, skip_invalid: bool = False,
        register_again: Collection[str] = (),
    ) -> IngestReport:  # fmt: skip
        """Append validated profiles as one atomic batch (duplicates and withdrawn samples as
        in :meth:`ingest_csv`)."""
        return self._ingest(list(profiles), [], skip_invalid, register_again=register_again)

    def _withdrawn_ids(self) -> list[str]:
        return sorted(self.withdrawn([t.sample_id for t in self.manifest.withdrawn]))

    def _ingest(
        self,
        profiles: list[Profile],
        errors: list[InputError],
        skip_invalid: bool,
        origin: Callable[[int], tuple[str | None, int | None]] = lambda index: (None, None),
        *,
        register_again: Collection[str] = (),
    ) -> IngestReport:
        """``origin(i)``: file and line of ``profiles[i]``, to locate its errors."""
        with self._lock():
            self.refresh()
            existing = self.stored([p.sample_id for p in profiles])
            withdrawn = set(self._withdrawn_ids()) - set(register_again)
            seen: set[str] = set()
            accepted = []
            for i, profile in enumerate(profiles):
                if not profile.genotypes:
                    source, line = origin(i)
                    errors.append(ProfileError("no typed autosomal locus: nothing to compare",
                                               source=source, line=line,
                                               sample=profile.sample_id))  # fmt: skip
                    continue
                if profile.sample_id in withdrawn:
                    source, line = origin(i)
                    errors.append(
                        ProfileError(
                            WITHDRAWN,
                            source=source,
                            line=line,
                            sample=profile.sample_id,
                            field="sample_id",
                        )
                    )
                    continue
                if profile.sample_id in existing or profile.sample_id in seen:
                    where = "in the store" if profile.sample_id in existing else "in this batch"
                    source, line = origin(i)
                    errors.append(
                        ProfileError(
                            f"duplicate sample_id: already {where}",
                            source=source,
                            line=line,
                            sample=profile.sample_id,
                            field="sample_id",
                        )
                    )
                    continue
                seen.add(profile.sample_id)
                accepted.append(profile)
            if errors and not skip_invalid:
                raise IngestError(errors)
            loci_seen = tuple(
                sorted({locus for p in accepted for locus in p.genotypes}, key=locus_sort_key)
            )
            if accepted:
                self._append(accepted)
            self._remove_orphans()
            return IngestReport(len(accepted), loci_seen, tuple(errors), self.generation)

    def refresh(self) -> None:
        """Re-read the manifest (after another process ingested)."""
        fresh = ReferenceStore.open(self.path).manifest
        if fresh != self.manifest:
            self.manifest = fresh
            self._fragments = None

    @contextlib.contextmanager
    def withdrawing(self, *, exclusive: bool) -> Iterator[None]:
        """Held exclusively through a withdrawal (:mod:`kinmatch.withdrawal`), shared by each
        push of review items: a push that read the manifest before a tombstone finishes
        before the withdrawal closes the sample's items, and one after it reads the
        tombstone, so no open item of a withdrawn sample is left behind."""
        with (self.path / WITHDRAWING_LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.path / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _append(self, profiles: list[Profile]) -> None:
        loci = sorted({locus for p in profiles for locus in p.genotypes}, key=locus_sort_key)
        dictionaries = {
            locus: sort_alleles({a for p in profiles for a in p.genotypes.get(locus, ())})
            for locus in loci
        }
        index = {locus: {a: i for i, a in enumerate(dictionaries[locus])} for locus in loci}
        known: dict[str, dict[tuple[str, str], int]] = {locus: {} for locus in loci}
        codes = np.zeros((len(profiles), len(loci)), dtype=np.uint16)
        for row, profile in enumerate(profiles):
            for column, locus in enumerate(loci):
                genotype = profile.genotypes.get(locus)
                if genotype is not None:
                    code = known[locus].get(genotype)
                    if code is None:
                        lookup = index[locus]
                        code = genotype_code(lookup[genotype[0]], lookup[genotype[1]])
                        known[locus][genotype] = code
                    codes[row, column] = code
        self._write_batch(
            EncodedBatch(
                sample_ids=[p.sample_id for p in profiles],
                roles=np.array([ROLE_CODES.get(p.role or "", NO_ROLE) for p in profiles],
                               dtype=np.uint8),
                sexes=np.array([SEXES.index(p.sex) if p.sex else NO_SEX for p in profiles],
                               dtype=np.uint8),
                case_ids=[p.case_id for p in profiles],
                agencies=[p.agency for p in profiles],
                loci=tuple(loci),
                alleles={locus: tuple(dictionaries[locus]) for locus in loci},
                codes=codes,
            )
        )  # fmt: skip

    def append_encoded(self, batch: EncodedBatch) -> IngestReport:
        """Append a batch that is already encoded (bulk loading of synthetic databases).

        Codes refer to ``batch.alleles``; they are translated to the store's dictionaries.
        Sample IDs must be new; the batch is written atomically like any other.
        """
        with self._lock():
            self.refresh()
            existing = self.stored(batch.sample_ids)
            withdrawn = self.withdrawn(batch.sample_ids)
            errors = [
                ProfileError("duplicate sample_id: already in the store", sample=sid)
                if sid in existing else ProfileError(WITHDRAWN, sample=sid, field="sample_id")
                for sid in batch.sample_ids
                if sid in existing or sid in withdrawn
            ]  # fmt: skip
            if len(set(batch.sample_ids)) != len(batch.sample_ids):
                errors.append(ProfileError("duplicate sample_id within the batch"))
            if errors:
                raise IngestError(errors)
            self._write_batch(batch)
            self._remove_orphans()
            return IngestReport(len(batch.sample_ids), batch.loci, (), self.generation)

    def _write_batch(self, batch: EncodedBatch) -> None:
        old = self.manifest
        loci = list(old.loci)
        loci += sorted(set(batch.loci) - set(loci), key=locus_sort_key)
        alleles = {locus: list(codes) for locus, codes in old.alleles.items()}
        codes = np.zeros((len(batch.sample_ids), len(loci)), dtype=np.uint16)
        for column, locus in enumerate(batch.loci):
            dictionary = alleles.setdefault(locus, [])
            known = set(dictionary)
            dictionary.extend(a for a in batch.alleles[locus] if a not in known)
            if n_genotype_codes(len(dictionary)) > 65535:
                raise StoreError(f"locus {locus} has too many alleles for 16-bit codes")
            position = {a: i for i, a in enumerate(dictionary)}
            remap = np.zeros(n_genotype_codes(len(batch.alleles[locus])), dtype=np.uint16)
            for code in range(1, len(remap)):
                first, second = genotype_alleles(code)
                remap[code] = genotype_code(position[batch.alleles[locus][first]],
                                            position[batch.alleles[locus][second]])  # fmt: skip
            codes[:, loci.index(locus)] = remap[batch.codes[:, column]]
        table = fragment_table(batch, codes, loci)

        generation = old.generation + 1
        name = f"frag-{generation:06d}-{uuid.uuid4().hex[:8]}.arrow"
        fragments = self.path / FRAGMENTS
        temporary = fragments / f".tmp-{name}"
        write_fragment(temporary, table)
        os.rename(temporary, fragments / name)
        write_index(fragments / name, codes, batch.roles, [len(alleles[locus]) for locus in loci])
        fsync_path(fragments)
        info = FragmentInfo(name, len(batch.sample_ids), tuple(loci), generation)
        manifest = Manifest(
            generation,
            tuple(loci),
            {locus: tuple(codes_) for locus, codes_ in alleles.items()},
            (*old.fragments, info),
            old.withdrawn,
        )
        write_manifest(self.path, manifest)
        self.manifest = manifest
        self._fragments = None

    def withdraw(
        self, sample_id: str, withdrawal: str, reason: str, *, erase: bool = False
    ) -> Tombstone:
        """Withdraw ``sample_id``: its tombstone, committed as a new store version by the
        manifest's atomic replacement, takes its profile out of every later read. The same
        ``withdrawal`` again returns the tombstone it wrote. The genotypes stay in the
        fragments until :meth:`compact`."""
        with self._lock():
            self.refresh()
            done = self.manifest.tombstone(withdrawal)
            if done is not None:
                if done.sample_id != sample_id:
                    raise StoreError(f"withdrawal {withdrawal!r} withdrew another sample")
                return done
            if self.find(sample_id) is None:
                raise UnknownSampleError(f"no sample {sample_id!r} in the store")
            tombstone = Tombstone(sample_id, self.generation + 1, withdrawal, reason, erase)
            self._replace_manifest(dataclasses.replace(
                self.manifest, generation=tombstone.generation,
                withdrawn=(*self.manifest.withdrawn, tombstone)))  # fmt: skip
            return tombstone

    def compact(self) -> Compaction:
        """Rewrite every fragment holding withdrawn rows without them, as a new store version.

        Each fragment keeps its generation (the version that committed its profiles), so
        versions keep their meaning and the ledger stays valid; the other rows are copied
        byte for byte. Atomic: the new fragments are written and renamed in, then the
        manifest is replaced, and only then are the old files deleted (a reader that mapped
        them keeps reading them). Killed at any point, the store reads the old fragments or
        the new; the next compaction or ingest deletes what was left."""
        with self._lock():
            self.refresh()
            self._remove_orphans()
            kept: list[FragmentInfo] = []
            written: list[tuple[Path, Path]] = []
            removed = 0
            directory = self.path / FRAGMENTS
            for fragment in self.fragments:
                removed += len(fragment.withdrawn)
                if not len(fragment.withdrawn):
                    kept.append(fragment.info)
                    continue
                live = fragment.live_rows()
                if not len(live):
                    continue
                table = fragment.table.take(pa.array(live)).combine_chunks()
                order = pc.sort_indices(table.column("sample_id")).cast(pa.uint32())
                table = table.set_column(table.schema.get_field_index("id_order"), "id_order",
                                         order)  # fmt: skip
                info = fragment.info
                name = f"frag-{info.generation:06d}-{uuid.uuid4().hex[:8]}.arrow"
                write_fragment(directory / f".tmp-{name}", table)
                written.append((directory / f".tmp-{name}", directory / name))
                kept.append(FragmentInfo(name, len(live), info.loci, info.generation))
                codes = fragment.codes[live]
                write_index(directory / name, codes, fragment.roles[live], fragment.n_alleles)
            if not removed:
                return Compaction(self.generation, 0, 0)
            for temporary, final in written:
                os.rename(temporary, final)
            fsync_path(directory)
            self._replace_manifest(dataclasses.replace(
                self.manifest, generation=self.generation + 1, fragments=tuple(kept)))  # fmt: skip
            self._remove_orphans()
            return Compaction(self.generation, removed, len(written))

    def _replace_manifest(self, manifest: Manifest) -> None:
        write_manifest(self.path, manifest)
        self.manifest = manifest
        self._fragments = None

    def _commit(self, spilled: Sequence[SpilledFragment], manifest: Manifest) -> None:
        """Rename the batch's fragments into place, then replace the manifest (the commit)."""
        fragments = self.path / FRAGMENTS
        committing = ReferenceStore(self.path, manifest)
        for fragment in spilled:
            os.rename(fragment.temporary, fragments / fragment.info.file)
            Fragment(
                fragments / fragment.info.file,
                fragment.info,
                n_alleles=committing._n_alleles(fragment.info),
            ).write_index()
        fsync_path(fragments)
        write_manifest(self.path, manifest)
        self.manifest = manifest
        self._fragments = None

    def _remove_orphans(self) -> None:
        """Delete files no manifest names (left by a killed ingest)."""
        named = self.manifest.files()
        for path in (self.path / FRAGMENTS).iterdir():
            if path.name not in named:
                path.unlink(missing_ok=True)
        for path in self.path.glob(f".{MANIFEST}.*.tmp"):
            path.unlink(missing_ok=True)
