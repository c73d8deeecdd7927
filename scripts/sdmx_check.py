"""The SDMX exports read by an independent SDMX library (sdmx1, from PyPI).

    scripts/sdmx_check.py DIR

DIR holds what the export tests wrote when SME_EXPORT_SAMPLES was set (scripts/test.sh does):
`structure.xml` (the SDMX-ML 3.0 structure message of the test hub's division table) and
SDMX-CSV 2.0 files `*.sdmx.csv`. Each file must parse against the DSD named in its
STRUCTURE_ID; every coded dimension value must be a code of its code list, every TIME_PERIOD
must be the SDMX form of its FREQ, and OBS_STATUS must be in CL_OBS_STATUS. Exits 1 naming the
file, the observation and the value otherwise.
"""

import pathlib
import re
import sys

import sdmx

PATTERN = {"A": r"\d{4}", "Q": r"\d{4}-Q[1-4]", "M": r"\d{4}-M(0[1-9]|1[0-2])"}


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    structure = sdmx.read_sdmx(root / "structure.xml")
    files = sorted(root.glob("*.sdmx.csv"))
    if not files:
        print(f"sdmx check: no *.sdmx.csv in {root}", file=sys.stderr)
        return 1
    total = 0
    for f in files:
        header = f.read_text(encoding="utf-8").splitlines()[1].split(",")
        dsd_id = re.match(r"[^:]+:([^()]+)\(", header[1]).group(1)
        dsd = structure.structure[dsd_id]
        message = sdmx.read_sdmx(f, structure=dsd)
        observations = [o for ds in message.data for o in ds.obs]
        if not observations:
            print(f"{f.name}: no observations", file=sys.stderr)
            return 1
        for n, obs in enumerate(observations):
            key = obs.dimension.values
            for dim in dsd.dimensions:
                value = key[dim.id].value
                rep = dim.local_representation
                codes = rep.enumerated if rep is not None else None
                if codes is not None and value not in codes:
                    print(f"{f.name}: observation {n}: {dim.id}={value!r} is not in {codes.id}",
                          file=sys.stderr)
                    return 1
            freq, period = key["FREQ"].value, str(key["TIME_PERIOD"].value)
            if not re.fullmatch(PATTERN[freq], period):
                print(f"{f.name}: observation {n}: TIME_PERIOD={period!r} is not a FREQ={freq} period",
                      file=sys.stderr)
                return 1
            status = obs.attached_attribute["OBS_STATUS"].value
            status = getattr(status, "id", status)
            if status not in structure.codelist["CL_OBS_STATUS"]:
                print(f"{f.name}: observation {n}: OBS_STATUS={status!r}", file=sys.stderr)
                return 1
        total += len(observations)
        print(f"{f.name}: {len(observations)} observations against {dsd_id}: codes, periods and statuses valid")
    print(f"sdmx check: {total} observations in {len(files)} files, read by sdmx1 {sdmx.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
