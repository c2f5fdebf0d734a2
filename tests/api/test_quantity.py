import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubelab.api.quantity import Quantity, QuantityError, canonical, parse_quantity

FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


@pytest.mark.parametrize(
    "text, shown, value, milli",
    [
        ("0", "0", 0, 0),
        ("1", "1", 1, 1000),
        ("1000", "1k", 1000, 1000000),
        ("0.5", "500m", 1, 500),
        (".5", "500m", 1, 500),
        ("1.", "1", 1, 1000),
        ("500m", "500m", 1, 500),
        ("100m", "100m", 1, 100),
        ("0.1", "100m", 1, 100),
        ("250m", "250m", 1, 250),
        ("1n", "1n", 1, 1),
        ("1u", "1u", 1, 1),
        ("0.0000000001", "1n", 1, 1),
        ("-1.5", "-1500m", -2, -1500),
        ("2k", "2k", 2000, 2000000),
        ("1500M", "1500M", 1500000000, 1500000000000),
        ("1E", "1E", 10**18, 10**21),
        ("1Gi", "1Gi", 2**30, 2**30 * 1000),
        ("1024Mi", "1Gi", 2**30, 2**30 * 1000),
        ("1.5Gi", "1536Mi", 3 * 2**29, 3 * 2**29 * 1000),
        ("100Ki", "100Ki", 102400, 102400000),
        ("1000Mi", "1000Mi", 1000 * 2**20, 1000 * 2**20 * 1000),
        ("0.5Ki", "512", 512, 512000),
        ("1.0001Ki", "1024102400u", 1025, 1024103),
        ("0.5Mi", "512Ki", 2**19, 2**19 * 1000),
        ("1e3", "1e3", 1000, 1000000),
        ("1E3", "1e3", 1000, 1000000),
        ("12e3", "12e3", 12000, 12000000),
        ("1e-3", "1e-3", 1, 1),
        ("1e+6", "1e6", 10**6, 10**9),
        ("1e1000", "9223372036854775807", 2**63 - 1, (2**63 - 1) * 1000),
        ("007", "7", 7, 7000),
        ("+3", "3", 3, 3000),
        ("-0", "0", 0, 0),
    ],
)
def test_parse_print_and_values(text, shown, value, milli):
    q = Quantity.parse(text)
    assert str(q) == shown
    assert q.value() == value
    assert q.milli_value() == milli


@pytest.mark.parametrize(
    "text, message",
    [
        ("", FORMAT_WRONG),
        ("abc", FORMAT_WRONG),
        (" 1", FORMAT_WRONG),
        ("1.5.5", FORMAT_WRONG),
        ("1 Gi", FORMAT_WRONG),
        ("1e", "unable to parse quantity's suffix"),
        ("1iM", "unable to parse quantity's suffix"),
        ("1Ki5", "unable to parse quantity's suffix"),
        ("1e+", "unable to parse quantity's suffix"),
        ("1kb", FORMAT_WRONG),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(QuantityError) as e:
        Quantity.parse(text)
    assert str(e.value) == message


def test_comparison_and_arithmetic_are_exact():
    assert Quantity.parse("1") == Quantity.parse("1000m")
    assert Quantity.parse("1Gi") > Quantity.parse("1G")
    assert Quantity.parse("100m") < Quantity.parse("0.2")
    assert sorted([Quantity.parse(s) for s in ("1", "10m", "1k")]) == [
        Quantity.parse("10m"), Quantity.parse("1"), Quantity.parse("1k")]
    total = Quantity.parse("100m") + Quantity.parse("250m") + Quantity.parse("1")
    assert str(total) == "1350m"
    assert str(Quantity.parse("1Gi") - Quantity.parse("512Mi")) == "512Mi"
    assert str(-Quantity.parse("2k")) == "-2k"
    assert Quantity.from_milli(1500).value() == 2
    assert str(Quantity.from_value(2048, "BinarySI")) == "2Ki"
    assert Quantity.parse("1.5").scaled_value(-3) == 1500
    assert Quantity.parse("1.5k").scaled_value(3) == 2
    assert Quantity.parse("1n").scaled_value(-12) == 1000
    assert len({Quantity.parse("1"), Quantity.parse("1000m")}) == 1


def test_json_values():
    assert canonical("0.5") == "500m"
    assert canonical(" 2Gi ") == "2Gi"
    assert canonical(1) == "1"
    assert canonical(0.25) == "250m"
    assert canonical(1000.0) == "1k"
    assert canonical(1e21) == "9223372036854775807"
    for bad in (True, None, [1], {"a": 1}):
        with pytest.raises(QuantityError, match="quantities must match"):
            parse_quantity(bad)


def test_huge_exponents_are_cheap():
    assert Quantity.parse("1e999999999999").value() == 2**63 - 1
    assert str(Quantity.parse("1e-999999999999")) == "1e-9"
    assert str(Quantity.parse("0e999999999999")) == "0"


suffixes = st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti", "e3", "e-2", "E"])
numbers = st.from_regex(r"\A[+-]?[0-9]{1,6}(\.[0-9]{0,4})?\Z")


@given(numbers, suffixes)
def test_canonical_form_is_a_fixed_point(number, suffix):
    q = Quantity.parse(number + suffix)
    again = Quantity.parse(str(q))
    assert again == q
    assert str(again) == str(q)


@given(st.integers(-(10**12), 10**12), st.sampled_from(["DecimalSI", "BinarySI", "DecimalExponent"]))
def test_milli_values_round_trip(milli, format):
    q = Quantity.from_milli(milli, format)
    assert Quantity.parse(str(q)).milli_value() == milli
