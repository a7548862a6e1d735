from django.db import migrations

REASONS = [
    ("sous-umc", "Sous l'unité minimale de collecte", "rejected_out_of_spec",
     "La surface concernée est inférieure à l'unité minimale de collecte de l'OCS GE "
     "(200 m² pour le bâti, 500 m² en zone construite, 2 500 m² ailleurs)."),
    ("confusion-us-cs", "Confusion entre usage et couverture", "rejected_out_of_spec",
     "La couverture décrit ce qui recouvre le sol ; l'usage, ce qu'on en fait. La "
     "proposition mélange les deux."),
    ("posterieur-prise-de-vue", "Changement postérieur à la prise de vue", "rejected_out_of_spec",
     "Le millésime décrit le terrain à la date des photographies aériennes ; ce changement "
     "est postérieur et sera vu au millésime suivant."),
    ("hors-nomenclature", "Distinction absente de la nomenclature", "rejected_out_of_spec",
     "La nomenclature de l'OCS GE ne fait pas cette distinction."),
    ("sans-rapport", "Sans rapport avec l'occupation du sol", "rejected_irrelevant",
     "Le signalement ne porte pas sur l'occupation du sol."),
    ("doublon-test", "Test ou saisie erronée", "rejected_irrelevant",
     "Le signalement semble être un essai ou une saisie erronée."),
]


def load(apps, schema_editor):
    RejectionReason = apps.get_model("signalements", "RejectionReason")
    for code, label, applies_to, explanation in REASONS:
        RejectionReason.objects.update_or_create(
            code=code,
            defaults={"label": label, "applies_to": applies_to, "explanation": explanation},
        )


class Migration(migrations.Migration):
    dependencies = [("signalements", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
