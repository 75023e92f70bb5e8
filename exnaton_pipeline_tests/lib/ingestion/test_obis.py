import pytest

from exnaton_pipeline.lib.ingestion.obis import ObisError, decode, try_decode


def test_import_code_decodes_to_active_import():
    obis = decode("0100011D00FF")
    assert (obis.a, obis.b, obis.c, obis.d, obis.e, obis.f) == (1, 0, 1, 29, 0, 255)
    assert obis.notation == "1-0:1.29.0*255"
    assert obis.register == "active_import"
    assert obis.unit == "kWh"


def test_export_and_reactive_registers():
    assert decode("0100021D00FF").register == "active_export"
    assert decode("0100031D00FF").register == "reactive_import"
    # OBIS C=4 is reactive energy export (-R), measured in kvarh (IEC 62056-61)
    assert (decode("0100041D00FF").register, decode("0100041D00FF").unit) == (
        "reactive_export",
        "kvarh",
    )


def test_lower_case_key_is_kept_upper_case():
    assert decode("0100021d00ff").code == "0100021D00FF"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("energy", "key 'energy' is not a 12-hex-digit OBIS code"),
        ("0100011D00F", "key '0100011D00F' is not a 12-hex-digit OBIS code"),
        ("0100011D00FG", "key '0100011D00FG' is not a 12-hex-digit OBIS code"),
        ("0700011D00FF", "OBIS 7-0:1.29.0*255 (0700011D00FF) is not electricity (A must be 1)"),
        (
            "0100051D00FF",
            "OBIS 1-0:5.29.0*255 (0100051D00FF) is not an energy register we know (C=5)",
        ),
        (
            "0100010800FF",
            "OBIS 1-0:1.8.0*255 (0100010800FF) is not a 15-minute load-profile delta "
            "(D must be 29)",
        ),
    ],
)
def test_unknown_codes_are_refused_with_the_reason(key, message):
    with pytest.raises(ObisError) as err:
        decode(key)
    assert str(err.value) == message
    assert try_decode(key) is None
