"""Publication of a département: once both loops are closed and every signalement decided,
the package is built (a Celery task) and the vintages become read-only.

The package, under MEDIA_ROOT/publications/<code>/: the corrected M1 and M2 GeoPackages in
the official layout, the M1→M2 difference (cs_avant, us_avant, cs_apres, us_apres), the
artificialisation indicators per commune (CSV), PMTiles archives of both vintages and of the
difference (`landcover.vector_archive`: the /donnees/ map reads them), for a vintage the model
produced (its photos still there) its training set in FLAIR-1's layout (`inference.training`,
a ZIP), and metadata.json with each file's size and SHA-256. Open data under the Licence
Ouverte 2.0, listed on /donnees/.
"""

import hashlib
import json
import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.artif.queries import Level, per_commune, territory, write_csv
from apps.landcover.difference import vintage_pair
from apps.landcover.models import Vintage
from apps.signalements.transitions import OPEN
from ocsge.licence import LICENCE, LICENCE_URL

from .models import Publication


class Refused(Exception):
    pass


def blockers(departement) -> list[str]:
    """Why the département cannot be published now (empty: it can)."""
    reasons = []
    pair = vintage_pair(departement)
    if pair is None:
        return [_("Il faut les deux millésimes M1 et M2.")]
    for vintage in pair:
        if vintage.feedback_open:
            reasons.append(
                _("La boucle de retours %(rank)s est encore ouverte.") % {"rank": vintage.rank}
            )
        undecided = vintage.signalements.filter(status__in=OPEN).count()
        if undecided:
            reasons.append(
                ngettext(
                    "%(n)d signalement %(rank)s n'est pas décidé.",
                    "%(n)d signalements %(rank)s ne sont pas décidés.",
                    undecided,
                )
                % {"n": undecided, "rank": vintage.rank}
            )
    done = Publication.objects.filter(
        departement=departement, state__in=[Publication.State.DONE, Publication.State.BUILDING]
    )
    if done.exists():
        reasons.append(_("Le département est déjà publié (ou en cours de publication)."))
    return reasons


def publish(departement, user) -> Publication:
    """Start the publication (refused with the reasons when it cannot be done)."""
    with transaction.atomic():
        Vintage.objects.select_for_update().filter(departement=departement).exists()
        if reasons := blockers(departement):
            raise Refused(" ".join(reasons))
        publication, _created = Publication.objects.update_or_create(
            departement=departement,
            defaults={
                "state": Publication.State.BUILDING,
                "created_by": user,
                "message": "",
                "files": [],
                "directory": "",
            },
        )
        transaction.on_commit(lambda: _build_later(publication.pk))
    return publication


def _build_later(publication_id):
    from apps.ops.dispatch import dispatch

    from .tasks import build_publication

    dispatch(build_publication, publication_id)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _training_sets(dep, vintages, directory: Path) -> list[tuple[str, str]]:
    """The training set of each vintage the model produced, as a ZIP (none when its photos
    are gone, or when no patch holds a label)."""
    from apps.inference.training import (
        TrainingRefused,
        build_training_set,
        photos_of,
        zip_training_set,
    )

    described = []
    for vintage in vintages:
        photos = photos_of(vintage)
        if photos is None:
            continue
        stem = f"OCSGE_{dep.code}_{vintage.rank}_{vintage.millesime}_ENTRAINEMENT"
        folder = directory / stem
        try:
            summary = build_training_set(vintage, photos, folder)
        except TrainingRefused:
            continue
        zip_training_set(folder, directory / f"{stem}.zip")
        shutil.rmtree(folder)
        described.append(
            (
                f"{stem}.zip",
                _(
                    "Données d'entraînement %(rank)s %(year)s (format FLAIR-1) : %(n)d dalles "
                    "de 512 px des photos (5 bandes) et leurs étiquettes corrigées"
                )
                % {"rank": vintage.rank, "year": vintage.millesime, "n": summary["patches"]},
            )
        )
    return described


def build(publication_id: int) -> str:
    """Write the package, then publish (vintages read-only). Safe to run twice."""
    # The writers (GDAL, Arrow) are the worker's: page starts do not import them.
    from apps.landcover.gpkg import export_difference, export_ocsge
    from apps.landcover.parquet import export_geoparquet
    from apps.landcover.vector_archive import export_changes_pmtiles, export_vintage_pmtiles

    publication = (
        Publication.objects.select_related("departement")
        .defer("departement__geom")
        .get(pk=publication_id)
    )
    if publication.state != Publication.State.BUILDING:
        return publication.state
    dep = publication.departement
    m1, m2 = vintage_pair(dep)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    directory = Path(settings.MEDIA_ROOT) / "publications" / dep.code / stamp
    directory.mkdir(parents=True, exist_ok=True)
    try:
        described = []
        for vintage in (m1, m2):
            name = f"OCSGE_{dep.code}_{vintage.rank}_{vintage.millesime}.gpkg"
            export_ocsge(dep.code, vintage.rank, directory / name)
            described.append(
                (
                    name,
                    _(
                        "OCS GE %(rank)s %(year)s corrigée (couches "
                        "OCCUPATION_SOL et ZONE_CONSTRUITE)"
                    )
                    % {"rank": vintage.rank, "year": vintage.millesime},
                )
            )
            name = f"OCSGE_{dep.code}_{vintage.rank}_{vintage.millesime}.parquet"
            export_geoparquet(vintage, directory / name)
            described.append(
                (
                    name,
                    _("OCS GE %(rank)s %(year)s corrigée, en GeoParquet (OCCUPATION_SOL)")
                    % {"rank": vintage.rank, "year": vintage.millesime},
                )
            )
            name = f"OCSGE_{dep.code}_{vintage.rank}_{vintage.millesime}.pmtiles"
            if export_vintage_pmtiles(vintage, directory / name):
                described.append(
                    (
                        name,
                        _(
                            "OCS GE %(rank)s %(year)s corrigée, tuiles vectorielles PMTiles "
                            "(zooms 0 à 14, lisibles sans serveur de tuiles)"
                        )
                        % {"rank": vintage.rank, "year": vintage.millesime},
                    )
                )
        described += _training_sets(dep, (m1, m2), directory)
        name = f"OCSGE_{dep.code}_DIFFERENCE_{m1.millesime}_{m2.millesime}.gpkg"
        export_difference(dep, directory / name)
        described.append((name, _("Évolutions M1 → M2 (cs_avant, us_avant, cs_apres, us_apres)")))
        name = f"OCSGE_{dep.code}_DIFFERENCE_{m1.millesime}_{m2.millesime}.pmtiles"
        if export_changes_pmtiles(dep, m1, m2, directory / name):
            described.append((name, _("Évolutions M1 → M2, tuiles vectorielles PMTiles")))
        name = f"OCSGE_{dep.code}_ARTIFICIALISATION_COMMUNES.csv"
        found = territory(None, Level.DEPARTEMENT, dep.code)
        with (directory / name).open("w", newline="", encoding="utf-8") as out:
            write_csv(out, per_commune(None, found) if found else [])
        described.append((name, _("Artificialisation par commune, M1, M2 et flux (ha)")))
        files = [
            {
                "name": n,
                "description": d,
                "size": (directory / n).stat().st_size,
                "sha256": _sha256(directory / n),
            }
            for n, d in described
        ]
        published_at = timezone.now()
        metadata = {
            "departement": {"code": dep.code, "name": dep.name},
            "vintages": [
                {
                    "rank": v.rank,
                    "millesime": v.millesime,
                    "polygons": v.polygons.count(),
                    "revision": v.revision,
                }
                for v in (m1, m2)
            ],
            "crs": f"EPSG:{dep.srid}",
            "licence": LICENCE,
            "licence_url": LICENCE_URL,
            "producer": "IGN",
            "published_at": published_at.isoformat(),
            "files": files,
        }
        (directory / "metadata.json").write_text(
            json.dumps(metadata, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        files.append(
            {
                "name": "metadata.json",
                "description": _("Métadonnées et empreintes"),
                "size": (directory / "metadata.json").stat().st_size,
                "sha256": _sha256(directory / "metadata.json"),
            }
        )
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        Publication.objects.filter(pk=publication_id).update(
            state=Publication.State.FAILED, message=str(exc)[:2000]
        )
        raise
    with transaction.atomic():
        Vintage.objects.filter(pk__in=[m1.pk, m2.pk]).update(
            state=Vintage.State.PUBLISHED, feedback_open=False
        )
        Publication.objects.filter(pk=publication_id).update(
            state=Publication.State.DONE,
            directory=str(directory),
            files=files,
            published_at=published_at,
        )
    return Publication.State.DONE
