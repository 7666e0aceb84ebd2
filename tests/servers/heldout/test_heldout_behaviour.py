"""What users of the held-out tools rely on, through an in-process MCP client: correct answers on known
cases (DST boundaries, hand-computed IRRs, world facts), and tool errors that name the problem."""

from __future__ import annotations

import sqlite3

import pytest

pytestmark = pytest.mark.anyio

HELD_OUT = ["geo", "chrono", "science", "finance"]


def ok(rec) -> dict:
    assert not rec.is_error, rec.error
    return rec.result


def error(rec) -> str:
    assert rec.is_error, f"expected a tool error, got {rec.result}"
    return rec.error


def world_value(world, sql: str, *params):
    con = sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def pool(pool_factory):
    return pool_factory(HELD_OUT, "inprocess")


# -- geo --------------------------------------------------------------------------------------


async def test_geo_distances_match_known_values(pool):
    async with pool as p:
        cases = [
            ("London, GB", "Paris, FR", 344),
            ("New York City", "Los Angeles", 3936),
            ("Tokyo", "Sydney, AU", 7823),
        ]
        for a, b, km in cases:
            result = ok(await p.call("distance", {"origin": a, "destination": b}))
            assert abs(result["distance_km"] - km) < 0.01 * km, (a, b, result["distance_km"])
        # Symmetric distance, reversed bearings.
        there = ok(await p.call("distance", {"origin": "Paris, FR", "destination": "London, GB"}))
        back = ok(await p.call("distance", {"origin": "London, GB", "destination": "Paris, FR"}))
        assert there["distance_km"] == back["distance_km"]
        assert abs((there["initial_bearing_deg"] + 180) % 360 - back["final_bearing_deg"]) < 0.01


async def test_geo_ambiguous_names_give_candidates_or_a_dominant_choice(pool):
    async with pool as p:
        message = error(await p.call("city_info", {"city": "Springfield"}))
        assert "ambiguous" in message and "city:" in message and "country code" in message
        picked = ok(await p.call("city_info", {"city": "Springfield, MA, US"}))
        assert picked["admin1"] == "MA"
        # One London is 20x the other: the bare name resolves, and says so.
        london = ok(await p.call("city_info", {"city": "London"}))
        assert london["country_code"] == "GB" and "most populous" in london["note"]
        assert ok(await p.call("city_info", {"city": "London, CA"}))["country_code"] == "CA"


async def test_geo_lookups_agree_with_the_world_database(pool, world):
    async with pool as p:
        fr = ok(await p.call("country_info", {"country": "FR"}))
        assert fr["population"] == world_value(world, "SELECT population FROM countries WHERE code='FR'")
        assert fr["city_count"] == world_value(world, "SELECT COUNT(*) FROM cities WHERE country_code='FR'")
        near = ok(await p.call("nearest_cities", {"place": "Lyon, FR", "limit": 3, "min_population": 100000}))
        assert [c["distance_km"] for c in near["cities"]] == sorted(c["distance_km"] for c in near["cities"])
        assert all(c["population"] >= 100000 for c in near["cities"])
        radius = ok(await p.call("cities_within_radius", {"place": "Lyon, FR", "radius_km": 100}))
        assert all(c["distance_km"] <= 100 for c in radius["cities"]) and radius["count"] >= len(radius["cities"])
        antipode = ok(await p.call("antipode", {"place": "0, 0"}))
        assert (antipode["latitude"], antipode["longitude"]) == (0.0, -180.0)


# -- chrono -----------------------------------------------------------------------------------


async def test_chrono_conversion_across_dst_boundaries(pool):
    async with pool as p:
        # Europe springs forward on 2024-03-31 at 01:00 UTC; the US already did on 2024-03-10.
        before = ok(await p.call("convert_time", {"time": "2024-03-31T00:59:00Z", "to_zone": "Europe/London"}))
        after = ok(await p.call("convert_time", {"time": "2024-03-31T01:00:00Z", "to_zone": "Europe/London"}))
        assert before["target"]["local_time"] == "2024-03-31T00:59:00+00:00" and not before["target"]["is_dst"]
        assert after["target"]["local_time"] == "2024-03-31T02:00:00+01:00" and after["target"]["is_dst"]
        # London and New York are 5 hours apart, except in the weeks when only one side has changed.
        gap = ok(
            await p.call(
                "convert_time", {"time": "2024-03-20T12:00:00", "from_zone": "London", "to_zone": "New York City"}
            )
        )
        assert gap["hours_ahead"] == -4 and gap["target"]["time"] == "08:00:00"
        usual = ok(
            await p.call(
                "convert_time",
                {"time": "2024-04-20T12:00:00", "from_zone": "Europe/London", "to_zone": "America/New_York"},
            )
        )
        assert usual["hours_ahead"] == -5
        # A wall time skipped by the jump is refused, and the message says why.
        message = error(
            await p.call(
                "convert_time", {"time": "2024-03-31T01:30:00", "from_zone": "Europe/London", "to_zone": "UTC"}
            )
        )
        assert "does not exist" in message and "Europe/London" in message
        # A repeated wall time (clocks going back) takes the occurrence asked for.
        first = ok(
            await p.call(
                "convert_time",
                {"time": "2024-10-27T01:30:00", "from_zone": "Europe/London", "to_zone": "UTC", "ambiguous": "earlier"},
            )
        )
        second = ok(
            await p.call(
                "convert_time",
                {"time": "2024-10-27T01:30:00", "from_zone": "Europe/London", "to_zone": "UTC", "ambiguous": "later"},
            )
        )
        assert (first["utc"], second["utc"]) == ("2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z")


async def test_chrono_city_time_uses_the_world_city_zone_and_is_deterministic(pool, world):
    async with pool as p:
        args = {"city": "city:1850147", "utc_instant": "2024-02-29T20:00:00Z"}
        first = ok(await p.call("city_local_time", args))
        assert first["timezone"] == world_value(world, "SELECT timezone FROM cities WHERE id=1850147")
        assert first["local"]["local_time"] == "2024-03-01T05:00:00+09:00"
        assert ok(await p.call("city_local_time", args)) == first
        assert "utc_instant" in error(await p.call("city_local_time", {"city": "Tokyo"}))


async def test_chrono_business_days_skip_holidays(pool):
    async with pool as p:
        easter = ok(await p.call("add_business_days", {"start": "2024-03-28", "business_days": 1, "country": "DE"}))
        assert easter["result"] == "2024-04-02"  # Good Friday and Easter Monday skipped
        assert [h["name"] for h in easter["holidays_skipped"]] == ["Good Friday", "Easter Monday"]
        count = ok(
            await p.call(
                "count_days", {"start": "2024-12-01", "end": "2024-12-31", "include_end": True, "country": "GB"}
            )
        )
        assert count["working_days"] == 22 and count["business_days"] == 20


# -- science ----------------------------------------------------------------------------------


async def test_science_unit_mismatch_is_a_clear_tool_error(pool):
    async with pool as p:
        message = error(await p.call("convert_units", {"value": 5, "from_unit": "km", "to_unit": "kg"}))
        assert "[length]" in message and "[mass]" in message and "km" in message
        message = error(await p.call("convert_units", {"value": 5, "from_unit": "parsnips", "to_unit": "m"}))
        assert "unknown unit" in message and "parsnips" in message
        body = ok(await p.call("convert_units", {"value": 37, "from_unit": "C", "to_unit": "F"}))
        assert abs(body["value"] - 98.6) < 1e-9


async def test_science_formulas_agree_with_periodictable_and_the_world(pool, world):
    import periodictable

    async with pool as p:
        for formula, pt_formula in [
            ("C6H12O6", "C6H12O6"),
            ("Ca(OH)2", "Ca(OH)2"),
            ("CuSO4·5H2O", "CuSO4+5H2O"),
            ("Al2(SO4)3", "Al2(SO4)3"),
        ]:
            result = ok(await p.call("molar_mass", {"formula": formula}))
            assert abs(result["molar_mass_g_per_mol"] - periodictable.formula(pt_formula).mass) < 0.01, formula
        iron = ok(await p.call("element_info", {"element": "element:Fe"}))
        assert iron["density_g_cm3"] == world_value(world, "SELECT density FROM elements WHERE symbol='Fe'")
        message = error(await p.call("molar_mass", {"formula": "C6H12O" + "6)"}))
        assert "unbalanced" in message


# -- finance ----------------------------------------------------------------------------------


async def test_finance_irr_matches_hand_computed_values(pool):
    async with pool as p:
        # -100 now, +121 in two periods: 100 (1 + r)^2 = 121, so r = 10% exactly.
        assert abs(ok(await p.call("internal_rate_of_return", {"cash_flows": [-100, 0, 121]}))["irr_pct"] - 10) < 1e-9
        # -1000, 300, 400, 500: the IRR solves NPV = 0; checked by plugging it back in.
        result = ok(await p.call("internal_rate_of_return", {"cash_flows": [-1000, 300, 400, 500]}))
        r = result["irr_pct"] / 100
        assert abs(-1000 + 300 / (1 + r) + 400 / (1 + r) ** 2 + 500 / (1 + r) ** 3) < 1e-4
        assert abs(result["irr_pct"] - 8.8963) < 1e-3
        npv = ok(
            await p.call("net_present_value", {"rate_pct": result["irr_pct"], "cash_flows": [-1000, 300, 400, 500]})
        )
        assert abs(npv["npv"]) <= 0.01
        message = error(await p.call("internal_rate_of_return", {"cash_flows": [100, 50]}))
        assert "outflow" in message


async def test_finance_price_lookup_uses_the_month_on_or_before(pool, world):
    async with pool as p:
        price = ok(await p.call("stock_price", {"symbol": "IBM", "date": "2008-09-30"}))
        assert price["price_month"] == "2008-09-01"
        assert price["price"] == world_value(
            world, "SELECT price FROM stock_prices WHERE symbol='IBM' AND date='2008-09-01'"
        )
        assert "2004-08-01" in error(await p.call("stock_price", {"symbol": "GOOG", "date": "2003-05-01"}))


# -- malformed arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "named"),
    [
        ("distance", {"origin": "Paris, FR"}, "destination"),  # missing required
        ("nearest_cities", {"place": "Paris, FR", "limit": "many"}, "limit"),  # wrong type
        ("cities_within_radius", {"place": "Paris, FR", "radius_km": -5}, "radius_km"),  # out of range
        ("convert_time", {"time": "2024-13-45T00:00:00", "to_zone": "UTC"}, "2024-13-45"),  # not a date
        ("convert_time", {"time": "2024-01-01T00:00:00", "to_zone": "Mars/Olympus"}, "Mars/Olympus"),
        ("public_holidays", {"country": "US", "year": 2024, "subdivision": "ZZ"}, "ZZ"),
        ("ideal_gas_law", {"pressure": "1 atm", "volume": "22.4 L"}, "missing"),
        ("element_info", {"element": "unobtainium"}, "unobtainium"),
        ("loan_amortization", {"principal": 1000, "annual_rate_pct": 5}, "years"),
        ("compare_stocks", {"symbols": ["MSFT", "TSLA"], "start": "2005-01", "end": "2006-01"}, "TSLA"),
        ("internal_rate_of_return", {"cash_flows": "lots"}, "cash_flows"),
    ],
)
async def test_malformed_arguments_give_a_tool_error_naming_the_problem(pool, tool, arguments, named):
    async with pool as p:
        message = error(await p.call(tool, arguments))
        assert named in message, message
