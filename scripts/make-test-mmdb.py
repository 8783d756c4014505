#!/usr/bin/env python3
"""Writes small MaxMind-format City and ASN databases for tokentrail's tests (never real data).

    make-test-mmdb.py OUTDIR [--variant base|renamed|simulated]

OUTDIR/city.mmdb (GeoLite2-City layout: city.names.en, country.iso_code) and OUTDIR/asn.mmdb
(GeoLite2-ASN layout: autonomous_system_number, autonomous_system_organization), both IPv6 trees
holding IPv4 networks too. `--variant renamed` changes one organisation (198.51.100.0/24 becomes
EXAMPLE-VPS-RENAMED) so that tests can see a reload. `--variant simulated` instead covers the
address ranges of `tokentrail simulate` (one network per first octet, and its two IPv6 prefixes),
so that scanning simulated traffic is enriched (scripts/check-alert-formats). Needs PyPI mmdb-writer (scripts/bootstrap
installs it into .venv/). Tests/EnrichmentTests/GeoIPFixtures.swift documents what each network is for.
"""
import argparse
import os
import sys

from mmdb_writer import MMDBWriter, MmdbU32
from netaddr import IPSet

# network: (city, country, asn, organisation)
NETWORKS = {
    "203.0.113.0/24": ("Seattle", "US", 64500, "EXAMPLE-HOME-ISP"),
    "203.0.114.0/24": ("Portland", "US", 64500, "EXAMPLE-HOME-ISP"),
    "100.64.0.0/16": ("Seattle", "US", 64510, "EXAMPLE-CGNAT"),
    "198.51.100.0/24": ("Frankfurt am Main", "DE", 64501, "EXAMPLE-VPS"),
    "192.0.2.0/24": ("Singapore", "SG", 64502, "EXAMPLE-MOBILE"),
    "52.94.0.0/16": ("Ashburn", "US", 16509, "AMAZON-02"),
    "54.240.0.0/16": ("Boardman", "US", 14618, "AMAZON-AES"),
    "2001:db8:1::/48": ("Dublin", "IE", 64503, "EXAMPLE-V6-ISP"),
    "2001:db8:2::/48": ("Tokyo", "JP", 16509, "AMAZON-02"),
    # Known to the ASN database only: no city, no country.
    "233.252.0.0/24": (None, None, 64504, "EXAMPLE-NO-CITY"),
}

# The simulator's first octets (Sources/Simulation/Population.swift, Addresses), owners' then attackers'.
SIMULATED_OCTETS = [3, 13, 18, 34, 35, 44, 52, 54, 63, 72, 98, 100, 108, 136, 145, 192, 198, 203, 10, 172,
                    5, 23, 31, 37, 45, 77, 80, 89, 91, 103, 146, 176, 185, 193, 194, 212]
COUNTRIES = ["US", "DE", "NL", "SG", "BR", "JP", "IE", "FR"]


def simulated_networks():
    networks = {f"{o}.0.0.0/8": (f"Example City {o}", COUNTRIES[i % len(COUNTRIES)], 64512 + i, f"EXAMPLE-NET-{o}")
                for i, o in enumerate(SIMULATED_OCTETS)}
    networks["2600:1f18::/32"] = ("Example City V6", "US", 64600, "EXAMPLE-V6-OWNERS")
    # Known to the ASN database only, as some attackers' addresses are.
    networks["2a0b::/16"] = (None, None, 64601, "EXAMPLE-V6-ATTACKERS")
    return networks


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir")
    parser.add_argument("--variant", choices=["base", "renamed", "simulated"], default="base")
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)

    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City",
                      languages=["en"], description="tokentrail test City database")
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                     languages=["en"], description="tokentrail test ASN database")
    networks = simulated_networks() if args.variant == "simulated" else NETWORKS
    for network in networks:
        name, country, number, org = networks[network]
        if args.variant == "renamed" and network == "198.51.100.0/24":
            org = "EXAMPLE-VPS-RENAMED"
        if name is not None:
            city.insert_network(IPSet([network]), {
                "city": {"names": {"en": name}},
                "country": {"iso_code": country, "names": {"en": country}},
            })
        asn.insert_network(IPSet([network]), {
            "autonomous_system_number": MmdbU32(number),
            "autonomous_system_organization": org,
        })
    # Write to a temporary name and rename, as a database updater does: readers see old or new whole.
    for writer, name in [(city, "city.mmdb"), (asn, "asn.mmdb")]:
        final = os.path.join(args.outdir, name)
        writer.to_db_file(final + ".tmp")
        os.replace(final + ".tmp", final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
