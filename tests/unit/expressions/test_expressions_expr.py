"""expr-lang subset: literals, operators, lookups, built-ins, Sprig, JSONPath, corpus usages."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from _expressions_corpus import field_values, strings_containing
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ExpressionError, UnresolvedReference
from engine.expressions import UndefinedName, evaluate_expr, expand_env, find_placeholders
from engine.expressions._expr_parser import parse_expr
from engine.expressions._values import go_float, go_sprint, json_float, to_json

ENV: dict[str, Any] = {
    "inputs": {"parameters": {"foo": "3", "should-print": "true", "ratio": "1.5"}},
    "xs": [1, 2, 3, 4],
    "users": [{"name": "ann", "age": 31}, {"name": "bob", "age": 25}, {"name": "cy", "age": 40}],
    "m": {"a": 1, "b-c": 2},
    "nothing": None,
    "empty": "",
    "t0": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # literals
        ("42", 42),
        ("0x2A", 42),
        ("0b101", 5),
        ("0o17", 15),
        ("1_000", 1000),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ('"a\\nb"', "a\nb"),
        ("'it\\'s'", "it's"),
        ('"\\u00e9"', "é"),
        ("`raw\\n`", "raw\\n"),
        ("true", True),
        ("nil", None),
        ("[1, 'a', nil,]", [1, "a", None]),
        ("{a: 1, 'b-c': 2, 3: 'x'}", {"a": 1, "b-c": 2, "3": "x"}),
        ("{(1 + 1): 'two'}", {2: "two"}),
        ("[]", []),
        ("{}", {}),
        ("1 /* inline */ + 2 // trailing", 3),
        # arithmetic
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("2 ** 10", 1024.0),
        ("2 ^ 3 ^ 2", 512.0),
        ("-2 ** 2", -4.0),
        ("'a' + 'b'", "ab"),
        ("1 + 1.5", 2.5),
        ("-xs[0]", -1),
        ("+3", 3),
        ("1..3", [1, 2, 3]),
        ("[1] + [2]", [1, 2]),
        # comparison and logic
        ("1 == 1.0", True),
        ("'1' == 1", False),
        ("nil == nil", True),
        ("[1, 2] == [1, 2]", True),
        ("{a: 1} == {a: 1.0}", True),
        ("'a' < 'b'", True),
        ("true == 1", False),
        ("2 >= 2 and 1 <= 2", True),
        ("true && false || true", True),
        ("not true", False),
        ("!(1 > 2)", True),
        ("false and xs[99] == 1", False),
        ("true or xs[99] == 1", True),
        # string and membership operators
        ("'hello' contains 'ell'", True),
        ("'hello' startsWith 'he'", True),
        ("'hello' endsWith 'lo'", True),
        ("'abc' matches '^a.c$'", True),
        ("'abc' not matches 'x'", True),
        ("'a' in ['a', 'b']", True),
        ("'x' not in ['a']", True),
        ("'a' in m", True),
        ("2 in xs", True),
        ("'k' in nothing", False),
        # ternary and nil handling
        ("1 < 2 ? 'y' : 'n'", "y"),
        ("false ? 1 : true ? 2 : 3", 2),
        ("nil ?: 'd'", "d"),
        ("'v' ?: 'd'", "v"),
        ("nil ?? 'd'", "d"),
        ("missing ?? 'd'", "d"),
        ("inputs.parameters.nope ?? 'd'", "d"),
        ("empty ?? 'd'", ""),
        ("a.b.c ?? x ?? 'd'", "d"),
        ("nothing == nil", True),
        ("inputs.parameters.nope == nil", True),
        ("nothing?.x", None),
        ("nothing?.x.y.z", None),
        ("nothing?.['k']", None),
        ("m?.zzz", None),
        ("m?.a", 1),
        # lookups
        ("inputs.parameters.foo", "3"),
        ('inputs.parameters["should-print"]', "true"),
        ("inputs['parameters']['foo']", "3"),
        ("m['b-c']", 2),
        ("xs[0]", 1),
        ("xs[-1]", 4),
        ("xs[1:3]", [2, 3]),
        ("xs[:2]", [1, 2]),
        ("xs[2:]", [3, 4]),
        ("xs[:]", [1, 2, 3, 4]),
        ("'hello'[1:3]", "el"),
        ("'hello'[0]", "h"),
        ("users[1].name", "bob"),
        ('$env["m"].a', 1),
        ("xs[len(xs) - 1]", 4),
        # conversions
        ("asInt('42')", 42),
        ("asInt(3.9)", 3),
        ("asInt('-7') + 1", -6),
        ("asFloat('1.5')", 1.5),
        ("int(inputs.parameters.foo) * 10", 30),
        ("float(2)", 2.0),
        ("string(1.5)", "1.5"),
        ("string(1000000.0)", "1e+06"),
        ("string(2.0)", "2"),
        ("string([1, 'a'])", "[1 a]"),
        ("string(nil)", "<nil>"),
        ("string(true)", "true"),
        ("string({b: 1, a: 2})", "map[a:2 b:1]"),
        ("type(1)", "int"),
        ("type(1.0)", "float"),
        ("type('')", "string"),
        ("type([])", "array"),
        ("type({})", "map"),
        ("type(nil)", "nil"),
        # JSON
        ("toJson({b: 1, a: [1.0, 'x', nil, true]})", '{"a":[1,"x",null,true],"b":1}'),
        ("toJson('x')", '"x"'),
        ("toJson(35.8)", "35.8"),
        ("toJSON({a: 1})", '{\n  "a": 1\n}'),
        ("toJSON([])", "[]"),
        ("fromJSON('{\"a\": [1]}').a[0]", 1),
        ("toBase64('Hello World')", "SGVsbG8gV29ybGQ="),
        ("fromBase64('SGk=')", "Hi"),
        # strings
        ("len('héllo')", 5),
        ("len(xs)", 4),
        ("len(m)", 2),
        ("lower('AbC')", "abc"),
        ("upper('abc')", "ABC"),
        ("trim('  x ')", "x"),
        ("trim('__x__', '_')", "x"),
        ("trimPrefix('v1.2', 'v')", "1.2"),
        ("trimSuffix('a.txt', '.txt')", "a"),
        ("split('a,b,c', ',')", ["a", "b", "c"]),
        ("split('a,b,c', ',', 2)", ["a", "b,c"]),
        ("splitAfter('a,b', ',')", ["a,", "b"]),
        ("join(['a', 'b'], '-')", "a-b"),
        ("join(['a', 'b'])", "ab"),
        ("replace('aXbX', 'X', '_')", "a_b_"),
        ("repeat('ab', 3)", "ababab"),
        ("indexOf('apple pie', 'pie')", 6),
        ("lastIndexOf('a-b-c', '-')", 3),
        ("hasPrefix('abc', 'ab')", True),
        ("hasSuffix('abc', 'bc')", True),
        # numbers
        ("abs(-3)", 3),
        ("ceil(1.2)", 2.0),
        ("floor(1.8)", 1.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("max(1, 5, 3)", 5),
        ("min([4, 2])", 2),
        ("mean([1, 2, 3])", 2.0),
        ("median([3, 1, 2])", 2.0),
        ("sum([1, 2, 3])", 6),
        ("sum([])", 0),
        # arrays and maps
        ("first(xs)", 1),
        ("last(xs)", 4),
        ("first([])", None),
        ("take(xs, 2)", [1, 2]),
        ("reverse(xs)", [4, 3, 2, 1]),
        ("sort([3, 1, 2])", [1, 2, 3]),
        ("sort([3, 1, 2], 'desc')", [3, 2, 1]),
        ("uniq([1, 1, 2, 1.0])", [1, 2]),
        ("flatten([1, [2, [3]]])", [1, 2, 3]),
        ("concat([1], [2, 3])", [1, 2, 3]),
        ("keys(m)", ["a", "b-c"]),
        ("values(m)", [1, 2]),
        ("get(m, 'zz')", None),
        ("get(xs, -1)", 4),
        ("get(xs, 10)", None),
        ("toPairs({a: 1})", [["a", 1]]),
        ("fromPairs([['a', 1]])", {"a": 1}),
        # predicates
        ("filter(xs, # % 2 == 0)", [2, 4]),
        ("filter([1, 3], {# > 1})", [3]),
        ("map([1, 2], {# * 10})", [10, 20]),
        ("map(users, .name)", ["ann", "bob", "cy"]),
        ("map(users, #.age > 30)", [True, False, True]),
        ("map(xs, #index)", [0, 1, 2, 3]),
        ("all(xs, # > 0)", True),
        ("any(xs, # > 3)", True),
        ("none(xs, # > 4)", True),
        ("one(xs, # == 2)", True),
        ("count(xs, # > 1)", 3),
        ("find(xs, # > 2)", 3),
        ("findIndex(xs, # > 2)", 2),
        ("findLast(xs, # < 3)", 2),
        ("findLastIndex(xs, # < 3)", 1),
        ("find(xs, # > 9)", None),
        ("findIndex(xs, # > 9)", -1),
        ("reduce(xs, #acc + #)", 10),
        ("reduce(xs, #acc + #, 10)", 20),
        ("sum(users, .age)", 96),
        ("groupBy(xs, # % 2 == 0)", {False: [1, 3], True: [2, 4]}),
        ("map(sortBy(users, .age, 'desc'), .name)", ["cy", "ann", "bob"]),
        ("map(filter(users, .age > 30), {upper(.name)})", ["ANN", "CY"]),
        ("filter(m, # > 1)", [2]),
        # sprig
        ("sprig.trim(' x ')", "x"),
        ("sprig.upper('a')", "A"),
        ("sprig.lower('A')", "a"),
        ("sprig.toString(5)", "5"),
        ("sprig.add(1, 2.9, '3')", 6),
        ("sprig.max(3, 9, 4)", 9),
        ("sprig.min(3, 9, 4)", 3),
        ("sprig.b64dec(sprig.b64enc('hi'))", "hi"),
        ("sprig.replace('a', 'b', 'aaa')", "bbb"),
        ("sprig.trimSuffix('-', 'x-')", "x"),
        ("sprig.date('2006-01-02', '2024-03-05T10:11:12Z')", "2024-03-05"),
        ("sprig.date('Jan _2 15:04:05.000', t0)", "Jan  2 03:04:05.000"),
        ("sprig.default('d', '')", "d"),
        ("sprig.default('d', 'v')", "v"),
        ("sprig.dict('a', 1)['a']", 1),
        ("sprig.splitList(',', 'a,b')", ["a", "b"]),
        ("sprig.join('-', ['a', 'b'])", "a-b"),
        ("sprig.contains('b', 'abc')", True),
        ("sprig.div(7, 2)", 3),
        ("sprig.div(-7, 2)", -3),
        ("sprig.mod(-7, 3)", -1),
        ("sprig.quote('a', 'b')", '"a" "b"'),
        ("sprig.ternary('y', 'n', true)", "y"),
        ("sprig.int('12')", 12),
        ("sprig.int('x')", 0),
        ("sprig.empty('')", True),
        ("sprig.duration(95)", "1m35s"),
        ("sprig.regexReplaceAll('a(x*)b', '-ab-axxb-', '${1}W')", "-W-xxW-"),
        ("len(sprig.uuidv4())", 36),
        ("len(sprig.randAlphaNum(8))", 8),
        # time
        ("t0.Year()", 2024),
        ("t0.Unix()", 1704164645),
        ("date('2024-01-02T03:04:05Z') == t0", True),
        ("duration('1h30m').Minutes()", 90.0),
        ("duration('1.5s').Milliseconds()", 1500),
        ("(t0 - date('2024-01-01T03:04:05Z')).Hours()", 24.0),
        ("(t0 - '2024-01-02T03:04:00Z').Seconds()", 5.0),
        ("t0 > date('2024-01-01')", True),
        ("t0 + duration('1h') > t0", True),
        ("t0.Format('Jan 2, 2006 at 3:04pm (MST)')", "Jan 2, 2024 at 3:04am (UTC)"),
        ("t0.Format('2006-01-02T15:04:05Z07:00')", "2024-01-02T03:04:05Z"),
        ("date('02/01/2024', '02/01/2006').Month()", 1),
        ("duration('90s').String()", "1m30s"),
        ("now() - duration('1h') < now()", True),
    ],
)
def test_evaluates(text: str, expected: Any) -> None:
    result = evaluate_expr(text, ENV)
    assert result == expected
    assert type(result) is type(expected)


def test_env_functions_override_builtins() -> None:
    fixed = datetime(2030, 5, 6, tzinfo=timezone.utc)
    env = {"now": lambda: fixed, "cron": {"last": fixed - timedelta(minutes=10)}}
    assert evaluate_expr("(now() - cron.last).Seconds() > 360", env) is True
    assert evaluate_expr("now().Year()", env) == 2030


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        (
            "inputs.parameters.fooo",
            UndefinedName,
            r"unknown name 'fooo' in inputs\.parameters \(available: foo, ratio, should-print\); "
            r"did you mean 'foo'\?.*offset 18",
        ),
        (
            "input.parameters.foo",
            UndefinedName,
            r"unknown name 'input' \(available: empty, inputs, m, nothing, t0, users, xs\); "
            r"did you mean 'inputs'\?.*offset 0",
        ),
        ("m['zz']", UndefinedName, r"unknown name 'zz' in m \(available: a, b-c\)"),
        ("users[0].nme", UndefinedName, r"in users\[0\]|in the value"),
        ("nothing.x", ExpressionError, r"cannot read 'x' of nothing, which is nil"),
        (
            "inputs.parameters.foo + 1",
            ExpressionError,
            r"invalid operation: string \+ int \(mismatched types; convert with int\(\)",
        ),
        ("'a' < 1", ExpressionError, r"invalid operation: string < int"),
        ("1 +", ExpressionError, r"unexpected end of expression; expected a value.*offset 3"),
        ("(1", ExpressionError, r"expected '\)' to close '\(' at offset 0"),
        ("[1, 2", ExpressionError, r"expected ','"),
        ("1 2", ExpressionError, r"unexpected token '2'; expected an operator"),
        ("", ExpressionError, r"expression is empty"),
        ("'abc", ExpressionError, r"unclosed string literal"),
        ("'\\q'", ExpressionError, r"invalid escape sequence"),
        ("1 @ 2", ExpressionError, r"unexpected character '@'"),
        ("asInt('1.5')", ExpressionError, r"asInt\(\): cannot convert '1\.5' to int"),
        ("asFloat('x')", ExpressionError, r"asFloat\(\): cannot convert 'x' to float"),
        ("lenn(xs)", ExpressionError, r"unknown function lenn\(\); did you mean len\(\)\?"),
        (
            "sprig.upperr('a')",
            ExpressionError,
            r"unknown function sprig\.upperr\(\); did you mean upper",
        ),
        ("m.a()", ExpressionError, r"m\.a is int, not a function"),
        ("xs[9]", ExpressionError, r"index 9 out of range for xs \(length 4\)"),
        ("xs['a']", ExpressionError, r"xs is array; index it with an integer, not string 'a'"),
        ("1 / 0", ExpressionError, r"division by zero"),
        ("1.5 % 2", ExpressionError, r"% needs two integers"),
        ("true && 1", ExpressionError, r"right side of '&&' must be a bool, got int 1"),
        ("1 ? 2 : 3", ExpressionError, r"ternary condition must be a bool"),
        ("!'x'", ExpressionError, r"operand of '!' must be a bool"),
        ("-'x'", ExpressionError, r"invalid operation: -string"),
        ("nil ?? 1 + 2", ExpressionError, r"'\+' and '\?\?' cannot be mixed; add parentheses"),
        ("#", ExpressionError, r"only allowed inside a predicate"),
        ("filter(xs, # + 1)", ExpressionError, r"predicate of filter\(\) must return a bool"),
        ("filter(1, # > 1)", ExpressionError, r"filter\(\) needs an array"),
        ("'a' matches '['", ExpressionError, r"invalid regular expression"),
        ("1 not 2", ExpressionError, r"'not' here must be followed by in, matches"),
        ("jsonpath('{\"a\": 1}', '$.b')", ExpressionError, r"jsonpath\(\): key 'b' not found"),
        ("jsonpath('{bad', '$.a')", ExpressionError, r"jsonpath\(\): invalid JSON"),
        ("jsonpath('{}', 'a')", ExpressionError, r"must start with '\$'"),
        ("t0.Nope()", ExpressionError, r"time\.Time has no method Nope\(\)"),
        ("duration('5 minutes')", ExpressionError, r"invalid duration '5 minutes'"),
        ("xs[1:'a']", ExpressionError, r"slice bounds must be integers"),
        ("#acc", ExpressionError, r"only allowed inside a predicate"),
        ("map(xs, #acc)", ExpressionError, r"'#acc' is not defined"),
    ],
)
def test_errors(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        evaluate_expr(text, ENV)


def test_undefined_name_is_an_unresolved_reference() -> None:
    with pytest.raises(UnresolvedReference) as caught:
        evaluate_expr("tasks.a.outputs.result", {"tasks": {}})
    err = caught.value
    assert isinstance(err, UndefinedName)
    assert err.reference == "tasks.a" and err.name == "a" and err.available == []
    assert "nothing is available there" in str(err)


def test_expand_env_nests_flat_argo_scopes() -> None:
    flat = {
        "inputs.parameters.foo": "1",
        "inputs.parameters": '[{"name": "foo"}]',  # less specific than a child: dropped
        "workflow.name": "wf",
        "item": "x",
        "steps.a-b.outputs.result": "r",
    }
    env = expand_env(flat)
    assert env == {
        "inputs": {"parameters": {"foo": "1"}},
        "workflow": {"name": "wf"},
        "item": "x",
        "steps": {"a-b": {"outputs": {"result": "r"}}},
    }
    assert evaluate_expr("steps['a-b'].outputs.result + inputs.parameters.foo", env) == "r1"


@pytest.mark.parametrize(
    ("value", "go_v", "go_json"),
    [
        (30.0, "30", "30"),
        (35.8, "35.8", "35.8"),
        (1e6, "1e+06", "1000000"),
        (123456.0, "123456", "123456"),
        (1234567.5, "1.2345675e+06", "1234567.5"),
        (1e21, "1e+21", "1e+21"),
        (1e-7, "1e-07", "1e-7"),
        (0.0001, "0.0001", "0.0001"),
        (0.00001, "1e-05", "0.00001"),
        (-2.5, "-2.5", "-2.5"),
        (0.0, "0", "0"),
        (1e20, "1e+20", "100000000000000000000"),
        (0.1 + 0.2, "0.30000000000000004", "0.30000000000000004"),
    ],
)
def test_go_float_formatting(value: float, go_v: str, go_json: str) -> None:
    assert go_float(value) == go_v
    assert json_float(value) == go_json


def test_go_special_values() -> None:
    assert go_sprint(math.inf) == "+Inf" and go_sprint(-math.inf) == "-Inf"
    assert go_sprint(math.nan) == "NaN"
    assert (
        to_json({"t": datetime(2024, 1, 2, tzinfo=timezone.utc), "d": timedelta(seconds=1)})
        == '{"d":1000000000,"t":"2024-01-02T00:00:00Z"}'
    )


@given(a=st.integers(-(10**9), 10**9), b=st.integers(-(10**9), 10**9).filter(bool))
def test_integer_arithmetic_matches_go(a: int, b: int) -> None:
    assert evaluate_expr(f"{a} + {b}", {}) == a + b
    assert evaluate_expr(f"{a} - ({b})", {}) == a - b
    assert evaluate_expr(f"{a} * {b}", {}) == a * b
    assert evaluate_expr(f"{a} % {b}", {}) == int(math.fmod(a, b))  # Go truncates toward zero
    assert evaluate_expr(f"{a} / {b}", {}) == pytest.approx(a / b)
    assert evaluate_expr(f"{a} < {b}", {}) is (a < b)


@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    quoted = to_json(text)  # JSON escapes are valid expr escapes
    assert evaluate_expr(quoted, {}) == text


# --- the corpus -------------------------------------------------------------------------------

WEATHER = '{"weekWeather": "eyJ0ZW1wcyI6IFszNCwgMjcsIDE1LCA1NywgNDZdfQo="}'
EMPLOYEES = (
    '{"employees": [{"name": "Baris", "age":43},{"name": "Mo", "age": 42}, '
    '{"name": "Jai", "age" :44}]}'
)
CORPUS_ENV: dict[str, Any] = {
    "workflow": {
        "name": "wf",
        "status": "Running",
        "creationTimestamp": "2024-03-05T10:11:12Z",
        "parameters": {
            "config": EMPLOYEES,
            "weather": WEATHER,
            "foo": "bar",
            "json": '[{"name": "should-print", "value": "true"}]',
        },
    },
    "inputs": {
        "parameters": {
            "foo": "3",
            "should-print": "true",
            "num": "5",
            "week-temps": '{"avg":35.8,"max":57,"min":15}',
        }
    },
    "steps": {
        "flip-coin": {"outputs": {"result": "heads"}},
        "heads": {"outputs": {"result": "it was heads", "artifacts": {"result": "art-h"}}},
        "tails": {"outputs": {"result": "it was tails", "artifacts": {"result": "art-t"}}},
        "step-1": {"status": "Running"},
        "step2": {"status": "Succeeded"},
        "fibonacci-helper": {"outputs": {"parameters": {"result": "8"}}},
    },
    "tasks": {
        "flip-coin": {"outputs": {"result": "tails"}},
        "heads": {"outputs": {"result": "it was heads", "artifacts": {"result": "art-h"}}},
        "tails": {"outputs": {"result": "it was tails", "artifacts": {"result": "art-t"}}},
        "producer": {"outputs": {"parameters": {}}},
    },
    "lastRetry": {"exitCode": "2", "status": "Failed", "duration": "30", "message": "pod deleted"},
    "cronworkflow": {"lastScheduledTime": None},
    "item": 3,
    "data": ["logs/main.log", "logs/other.txt"],
}

CORPUS_EXPECTED = {
    "item": 3,
    "toJson(filter([1, 3], {# > 1}))": "[3]",
    "asInt(inputs.parameters.foo) * 10": 30,
    "sprig.date('2006', workflow.creationTimestamp)": "2024",
    "inputs.parameters[\"should-print\"] == 'true'": True,
    "jsonpath(workflow.parameters.json, '$[0].value') == 'true'": True,
    "jsonpath(workflow.parameters.config, '$.employees[?(@.name==\"Baris\")].age')": [43],
    "jsonpath(workflow.parameters.config, '$.employees[?(@.age>42 && @.age<44)].age')": [43],
    "jsonpath(workflow.parameters.config, '$.employees[0:1]')": [{"name": "Baris", "age": 43}],
    "jsonpath(workflow.parameters.config, '$.employees[*].name')": ["Baris", "Mo", "Jai"],
    "jsonpath(inputs.parameters['week-temps'], '$.avg')": 35.8,
    "jsonpath(inputs.parameters['week-temps'], '$.min')": 15,
    "jsonpath(inputs.parameters['week-temps'], '$.max')": 57,
    "cronworkflow.lastScheduledTime == nil || (now() - cronworkflow.lastScheduledTime)"
    ".Seconds() > 360": True,
    'workflow.status == "Running"': True,
    'steps["step-1"].status == "Running"': True,
    'steps["step-1"].status == "Succeeded"': False,
    'steps.step2.status == "Running"': False,
    'steps.step2.status == "Succeeded"': True,
    "steps['flip-coin'].outputs.result == 'heads' ? steps.heads.outputs.result : "
    "steps.tails.outputs.result": "it was heads",
    "asInt(inputs.parameters.num) == 1? 1: asInt(inputs.parameters.num) == 2? 1: "
    "steps['fibonacci-helper'].outputs.parameters.result": "8",
    "tasks.producer.outputs.parameters.msg ?? 'expr-fallback'": "expr-fallback",
    "tasks['flip-coin'].outputs.result == 'heads' ? tasks.heads.outputs.result : "
    "tasks.tails.outputs.result": "it was tails",
    "workflow.parameters.foo": "bar",
    'filter(data, {# endsWith "main.log"})': ["logs/main.log"],
    "tasks['flip-coin'].outputs.result == 'heads' ? tasks.heads.outputs.artifacts.result : "
    "tasks.tails.outputs.artifacts.result": "art-t",
    "steps['flip-coin'].outputs.result == 'heads' ? steps.heads.outputs.artifacts.result : "
    "steps.tails.outputs.artifacts.result": "art-h",
}


def _corpus_expressions() -> list[tuple[str, str]]:
    """Every `{{= }}` body and every expression field in the corpus, simple tags filled in."""
    found = []
    for where, text in strings_containing("{{="):
        found += [(where, ph.inner) for ph in find_placeholders(text) if ph.is_expression]
    for field in ("expression", "fromExpression"):
        for where, text in field_values(field):
            found.append((where, text.replace("{{inputs.parameters.safe-to-retry}}", "true")))
    return found


# Files whose workflow parameters differ from CORPUS_ENV's.
SIMPLE_CONFIG = '{"a": "1", "b": "2", "c": "3"}'
FILE_ENV = {
    "expression-destructure-json.yaml": {
        **CORPUS_ENV,
        "workflow": {**CORPUS_ENV["workflow"], "parameters": {"config": SIMPLE_CONFIG}},
    },
}


def test_every_corpus_expression_parses_and_evaluates() -> None:
    expressions = _corpus_expressions()
    assert len(expressions) >= 25
    for where, text in expressions:
        parse_expr(text.strip())
        evaluate_expr(text, FILE_ENV.get(where.split(":")[0], CORPUS_ENV))  # must not raise
    normalised = {" ".join(text.split()) for _, text in expressions}
    for text in CORPUS_EXPECTED:
        assert text in normalised, f"corpus no longer contains {text!r}"


@pytest.mark.parametrize(("text", "expected"), list(CORPUS_EXPECTED.items()))
def test_corpus_expression_values(text: str, expected: Any) -> None:
    assert evaluate_expr(text, CORPUS_ENV) == expected


@pytest.mark.parametrize("key", ["a", "b", "c"])
def test_corpus_destructure_json(key: str) -> None:
    env = FILE_ENV["expression-destructure-json.yaml"]
    text = f"jsonpath(workflow.parameters.config, '$.{key}')"
    assert evaluate_expr(text, env) == str(ord(key) - ord("a") + 1)


def test_corpus_retry_expression() -> None:
    text = (
        'asInt(lastRetry.exitCode) > 1 && lastRetry.status != "Error" && '
        "asInt(lastRetry.duration) < 120 && (false == true || lastRetry.message matches "
        "'imminent node shutdown|pod deleted')"
    )
    assert evaluate_expr(text, CORPUS_ENV) is True
    quiet = {**CORPUS_ENV, "lastRetry": {**CORPUS_ENV["lastRetry"], "message": "oom"}}
    assert evaluate_expr(text, quiet) is False


def test_corpus_verbose_snippet_map() -> None:
    text = """
        map([
            jsonpath(sprig.b64dec(jsonpath(workflow.parameters.weather, '$.weekWeather')),
                     '$.temps')
          ], {
            toJson({
              avg: sprig.add(#[0], #[1], #[2], #[3], #[4]) / 5,
              min: sprig.min(#[0], #[1], #[2], #[3], #[4]),
              max: sprig.max(#[0], #[1], #[2], #[3], #[4])
            })
        })[0]
    """
    assert evaluate_expr(text, CORPUS_ENV) == '{"avg":35.8,"max":57,"min":15}'
