#!/usr/bin/env bats
# Tests of scriptlets/shell/preprocess_csv.sh.
# shellcheck disable=SC2154  # $output, $stderr and $lines are set by bats' `run`
bats_require_minimum_version 1.5.0

load helpers

setup() {
    common_setup
    SCRIPT="$SHELL_DIR/preprocess_csv.sh"
}

@test "a messy CSV (BOM, CRLF, blank lines, padding, spaced header) gives the exact clean output" {
    # Header with spaces, dashes, quotes and mixed case; CRLF endings; blank and whitespace-only lines.
    {
        printf '\xef\xbb\xbf Sample ID , "Peak-to-Peak  Value",Temp-C \r\n'
        printf '\r\n'
        printf '  1 ,  3.25 , 21.5\r\n'
        printf '   \r\n\t\n'
        printf '2,3.31,\t22\r\n'
        printf '\r\n'
        printf '3 ,"3.40" , 22.5 \r\n'
    } >raw.csv

    run -0 --separate-stderr bash "$SCRIPT" --input raw.csv --output out/clean.csv

    # The JSON result on stdout, with numbers as numbers.
    [ "$output" = '{"input": "raw.csv", "output": "out/clean.csv", "rows": 3, "columns": 3}' ]
    [[ "$stderr" == *"INFO preprocess_csv: wrote out/clean.csv: 3 rows, 3 columns"* ]]

    expected=$'sample_id,peak_to_peak_value,temp_c\n1,3.25,21.5\n2,3.31,22\n3,3.40,22.5'
    [ "$(cat out/clean.csv)" = "$expected" ]
    # No CR anywhere, and the file ends with one newline.
    [ "$(tail -c 1 out/clean.csv | od -An -c | tr -d ' ')" = '\n' ]
    run ! grep -q $'\r' out/clean.csv
}

@test "quoted fields keep their commas and quotes, and are re-quoted only when needed" {
    printf 'name,note\n"Smith, J.","said ""hi"""\n" plain ",5" screen\n' >raw.csv
    run -0 bash "$SCRIPT" --input raw.csv --output clean.csv
    expected=$'name,note\n"Smith, J.","said ""hi"""\nplain,"5"" screen"'
    [ "$(cat clean.csv)" = "$expected" ]
}

@test "cleaning is idempotent: a clean file comes out unchanged" {
    printf 'A B,c\n 1 , "x, y"\n' >raw.csv
    run -0 bash "$SCRIPT" --input raw.csv --output once.csv
    run -0 bash "$SCRIPT" --input once.csv --output twice.csv
    cmp once.csv twice.csv
}

@test "--output may be the input file itself" {
    printf 'A,B\r\n1, 2\r\n' >data.csv
    run -0 bash "$SCRIPT" --input data.csv --output data.csv
    [ "$(cat data.csv)" = $'a,b\n1,2' ]
}

@test "a header-only file is valid and has 0 rows" {
    printf 'a,b\n\n' >raw.csv
    run -0 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [ "$(json_get "$output" 'd["rows"], d["columns"]')" = "(0, 2)" ]
}

@test "a missing input file exits 2 and names the flag and the file" {
    run -2 --separate-stderr bash "$SCRIPT" --input nope.csv --output clean.csv
    [ "$output" = "" ]
    [[ "$stderr" == *"ERROR preprocess_csv: --input 'nope.csv' does not exist"* ]]
    [ ! -e clean.csv ]
}

@test "an unreadable input or a folder as input exits 2" {
    mkdir folder
    run -2 --separate-stderr bash "$SCRIPT" --input folder --output clean.csv
    [[ "$stderr" == *"--input 'folder' is a folder"* ]]

    if [ "$(id -u)" -ne 0 ]; then  # root reads everything, so this part needs a normal user
        printf 'a\n1\n' >secret.csv
        chmod 000 secret.csv
        run -2 --separate-stderr bash "$SCRIPT" --input secret.csv --output clean.csv
        [[ "$stderr" == *"is not readable"* ]]
    fi
}

@test "missing flags, flags without values and unknown flags exit 2" {
    run -2 --separate-stderr bash "$SCRIPT" --output clean.csv
    [[ "$stderr" == *"--input is required"* ]]
    printf 'a\n' >raw.csv
    run -2 --separate-stderr bash "$SCRIPT" --input raw.csv
    [[ "$stderr" == *"--output is required"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --input
    [[ "$stderr" == *"--input needs a value"* ]]
    run -2 --separate-stderr bash "$SCRIPT" --input raw.csv --output x.csv --colour
    [[ "$stderr" == *"unknown argument '--colour'"* ]]
}

@test "a ragged row exits 1, names its line (counting blank lines), and writes no output" {
    printf 'a,b,c\n1,2,3\n\n4,5\n6,7,8\n' >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [ "$output" = "" ]
    [[ "$stderr" == *"raw.csv: line 4: 2 fields, but the header (line 1) has 3 (a,b,c)"* ]]
    [[ "$stderr" == *"clean.csv was not written"* ]]
    [ ! -e clean.csv ]
    # No temporary file is left behind either.
    run ! compgen -G 'clean.csv*'
    run ! compgen -G '*.tmp.*'
}

@test "many ragged rows: the first five are named, the rest counted" {
    { echo a,b; for i in 1 2 3 4 5 6 7; do echo "$i"; done; } >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [[ "$stderr" == *"line 6: 1 field, but"* ]]
    [[ "$stderr" != *"line 7:"* ]]
    [[ "$stderr" == *"2 more rows have the wrong number of fields"* ]]
}

@test "a file with no header (empty or blank lines only) exits 1" {
    printf '\r\n   \n\n' >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [[ "$stderr" == *"no header"* ]]
    : >empty.csv
    run -1 --separate-stderr bash "$SCRIPT" --input empty.csv --output clean.csv
    [[ "$stderr" == *"no header"* ]]
}

@test "empty or duplicate column names exit 1" {
    printf 'a,,c\n1,2,3\n' >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [[ "$stderr" == *"header column 2 has no name"* ]]
    printf 'Value,value \n1,2\n' >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [[ "$stderr" == *'header columns 1 and 2 are both named "value"'* ]]
}

@test "an unterminated quote exits 1 and names the line" {
    printf 'a,b\n1,"open\n' >raw.csv
    run -1 --separate-stderr bash "$SCRIPT" --input raw.csv --output clean.csv
    [[ "$stderr" == *"line 2: unterminated quoted field"* ]]
}

@test "the output folder is created" {
    printf 'a\n1\n' >raw.csv
    run -0 bash "$SCRIPT" --input raw.csv --output deep/er/clean.csv
    [ -f deep/er/clean.csv ]
}

@test "--help prints the header with every section and exits 0" {
    run -0 --separate-stderr bash "$SCRIPT" --help
    [[ "${lines[0]}" == "Description:" ]]
    for section in Usage: Arguments: Examples: Limitations:; do
        [[ "$output" == *"$section"* ]]
    done
    [[ "$output" != *"set -Eeuo"* ]]
    [ "$stderr" = "" ]
}
