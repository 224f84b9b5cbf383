"""SES template rendering (cloudlet.services.ses.render).

The first table holds the SES Developer Guide's own examples ("Advanced email
personalization"; the #each / #if example of moto's AWS-verified
test_render_template__advanced). The rest is Handlebars.js behaviour, which
the guide points to for everything it does not show, with SES's one stated
difference: no HTML escaping.
"""

from __future__ import annotations

import json

import pytest

from cloudlet.services.ses.render import (
    INVALID_RENDERING_PARAMETER,
    INVALID_TEMPLATE,
    MISSING_RENDERING_ATTRIBUTE,
    RenderError,
    render,
    render_template,
    required_attributes,
    validate,
)

GUIDE_DATA = {
    "meta": {"userId": "51806220607"},
    "contact": {"firstName": "Anaya", "lastName": "Iyengar", "city": "Bengaluru",
                "country": "India", "postalCode": "560052"},
    "subscription": [{"interest": "Sports"}, {"interest": "Travel"}, {"interest": "Cooking"}],
}

GUIDE = [
    ("Hello {{contact.firstName}}!", GUIDE_DATA, "Hello Anaya!"),
    (("<ul>{{#each subscription}}<li>{{interest}}</li>{{/each}}</ul>"
     "<a href=https://www.example.com/preferences/i.aspx?id={{meta.userId}}>"),
     GUIDE_DATA,
     ("<ul><li>Sports</li><li>Travel</li><li>Cooking</li></ul>"
     "<a href=https://www.example.com/preferences/i.aspx?id=51806220607>")),
    ("{{#if subscription}}<p>You chose:</p>{{else}}<p>Nothing yet.</p>{{/if}}", GUIDE_DATA,
     "<p>You chose:</p>"),
    ("{{#if subscription}}<p>You chose:</p>{{else}}<p>Nothing yet.</p>{{/if}}", {},
     "<p>Nothing yet.</p>"),
    (('{{#* inline "fullName"}}{{firstName}}{{#if lastName}} {{lastName}}{{/if}}{{/inline}}'
     "<h1>Hello {{> fullName}}!</h1>"),
     {"firstName": "Anaya", "lastName": "Iyengar"}, "<h1>Hello Anaya Iyengar!</h1>"),
    (('{{#* inline "fullName"}}{{firstName}}{{#if lastName}} {{lastName}}{{/if}}{{/inline}}'
     "<h1>Hello {{> fullName}}!</h1>"),
     {"firstName": "Anaya"}, "<h1>Hello Anaya!</h1>"),
    ("{{#each items}} {{name}} is {{#if best}}the best{{else}}a {{type}}{{/if}}, {{/each}}",
     {"items": [{"type": "dog", "name": "bobby", "best": True},
                {"type": "cat", "name": "pedro", "best": False}]},
     " bobby is the best,  pedro is a cat, "),
]

VALUES = [
    # No HTML escaping, with two braces or three (the guide's note).
    ("{{x}}|{{{x}}}|{{&x}}", {"x": "<b>&'\"</b>"}, "<b>&'\"</b>|<b>&'\"</b>|<b>&'\"</b>"),
    ("{{ name }}", {"name": "spaces ok"}, "spaces ok"),
    ("[{{missing}}][{{a.b.c}}][{{n}}]", {"a": {"b": {}}, "n": None}, "[][][]"),
    ("{{t}} {{f}} {{i}} {{big}} {{half}} {{whole}}",
     {"t": True, "f": False, "i": 0, "big": 10**20, "half": 1.5, "whole": 2.0},
     "true false 0 100000000000000000000 1.5 2"),
    ("{{list}} {{obj}} {{nested}}", {"list": [1, "a", None, True], "obj": {"k": 1}, "nested": [[1, 2], 3]},
     "1,a,,true [object Object] 1,2,3"),
    ("{{items.length}} {{items.0}} {{items.[1]}} {{s.length}} {{items.9}}",
     {"items": ["a", "b"], "s": "four"}, "2 a b 4 "),
    ("{{[first name]}} {{this.x}} {{./x}}", {"first name": "Ann", "x": "X"}, "Ann X X"),
    ("{{@root.a}}", {"a": "root"}, "root"),
    ("{{lookup map key}} {{lookup list 1}}", {"map": {"k": "v"}, "key": "k", "list": ["a", "b"]}, "v b"),
    ("a{{log x}}b", {"x": 1}, "ab"),
    ("a {{! note }} b {{!-- has }} inside --}} c", {}, "a  b  c"),
    ("\\{{x}} {{x}} \\\\{{x}}", {"x": 1}, "{{x}} 1 \\1"),
]

CONDITIONALS = [
    ("{{#if v}}T{{else}}F{{/if}}", {"v": value}, expected)
    for value, expected in [
        (True, "T"), (False, "F"), (None, "F"), (0, "F"), (0.0, "F"), (1, "T"), ("", "F"),
        ("0", "T"), ([], "F"), ([0], "T"), ({}, "T"),
    ]
] + [
    ("{{#if v}}T{{else}}F{{/if}}", {}, "F"),
    ("{{#unless v}}U{{else}}N{{/unless}}", {"v": []}, "U"),
    ("{{#unless v}}U{{else}}N{{/unless}}", {"v": "x"}, "N"),
    ("{{#if v includeZero=true}}T{{else}}F{{/if}}", {"v": 0}, "T"),
    ("{{#if a}}A{{else if b}}B{{else if c}}C{{else}}D{{/if}}", {"c": 1}, "C"),
    ("{{#if a}}A{{else if b}}B{{else if c}}C{{else}}D{{/if}}", {}, "D"),
    ("{{#if a}}A{{^}}not A{{/if}}", {}, "not A"),
    ("{{^xs}}none{{/xs}}", {"xs": []}, "none"),
    ("{{^xs}}none{{/xs}}", {"xs": [1]}, ""),
    # Sections: a name as a block, Handlebars' blockHelperMissing.
    ("{{#person}}{{name}}{{/person}}", {"person": {"name": "Ann"}}, "Ann"),
    ("{{#flag}}yes{{else}}no{{/flag}}", {"flag": False}, "no"),
    ("{{#xs}}{{this}};{{/xs}}", {"xs": ["a", "b"]}, "a;b;"),
]

ITERATION = [
    ("{{#each xs}}{{@index}}:{{this}}{{#if @first}}(first){{/if}}{{#if @last}}(last){{/if}} {{/each}}",
     {"xs": ["a", "b", "c"]}, "0:a(first) 1:b 2:c(last) "),
    ("{{#each o}}{{@key}}={{this}}{{#unless @last}}, {{/unless}}{{/each}}",
     {"o": {"x": 1, "y": "two"}}, "x=1, y=two"),
    ("{{#each o}}{{@index}}{{/each}}", {"o": {"x": 1, "y": 2}}, "01"),
    ("{{#each xs}}{{this.n}}{{n}}{{/each}}", {"xs": [{"n": 1}, {"n": 2}]}, "1122"),
    ("{{#each xs}}x{{else}}empty{{/each}}", {"xs": []}, "empty"),
    ("{{#each xs}}x{{else}}empty{{/each}}", {}, "empty"),
    ("{{#each xs}}x{{else}}empty{{/each}}", {"xs": "not a list"}, "empty"),
    ("{{#each xs as |item i|}}{{i}}={{item}};{{/each}}", {"xs": ["a", "b"]}, "0=a;1=b;"),
    ("{{#each rows}}{{#each this}}{{this}}{{/each}}|{{/each}}", {"rows": [[1, 2], [3]]}, "12|3|"),
    ("{{#each xs}}{{../title}}-{{this}} {{/each}}", {"title": "T", "xs": [1, 2]}, "T-1 T-2 "),
    ("{{#each xs}}{{@root.title}}{{/each}}", {"title": "T", "xs": [1]}, "T"),
    ("{{#with c}}{{first}} {{../top}}{{/with}}", {"c": {"first": "F"}, "top": "T"}, "F T"),
    ("{{#with c as |p|}}{{p.first}}{{/with}}", {"c": {"first": "F"}}, "F"),
    ("{{#with c}}in{{else}}out{{/with}}", {"c": None}, "out"),
    ("{{#with c}}{{this}}{{/with}}", {"c": 0}, "0"),
]

WHITESPACE = [
    # A block tag alone on its line takes the line with it.
    ("<ul>\n{{#each xs}}\n  <li>{{this}}</li>\n{{/each}}\n</ul>\n", {"xs": ["a", "b"]},
     "<ul>\n  <li>a</li>\n  <li>b</li>\n</ul>\n"),
    ("{{#if a}}\nA\n{{else if b}}\nB\n{{else}}\nC\n{{/if}}\nend", {"b": 1}, "B\nend"),
    ("{{#if a}}\nA\n{{else}}\nC\n{{/if}}\nend", {}, "C\nend"),
    ("line\n  {{! comment }}\nnext", {}, "line\nnext"),
    ("  {{#if a}}  x  {{/if}}  ", {"a": 1}, "    x    "),   # not alone on a line: kept
    ("Hi {{name}}\n", {"name": "N"}, "Hi N\n"),
    # ~ trims all whitespace on its side.
    ("a   {{~x~}}   b", {"x": "X"}, "aXb"),
    ("a \n {{~#if t}} x {{~/if~}} \n b", {"t": True}, "a xb"),
    ("{{#each xs~}}\n  {{this}}\n{{~/each}}", {"xs": [1, 2]}, "12"),
    # A standalone partial is indented like its tag.
    ('{{#*inline "p"}}\n<b>{{n}}</b>\n{{/inline}}\n<div>\n  {{> p}}\n</div>', {"n": "N"},
     "<div>\n  <b>N</b>\n</div>"),
    ('{{#*inline "p"}}[{{n}}]{{/inline}}{{> p}} {{> p m}} {{> p n="h"}}', {"n": 1, "m": {"n": 2}}, "[1] [2] [h]"),
]


@pytest.mark.parametrize("template, data, expected", GUIDE + VALUES + CONDITIONALS + ITERATION + WHITESPACE)
def test_render(template, data, expected):
    assert render(template, data) == expected


def test_escape_is_handlebars_js_when_asked():
    assert render("{{x}} {{{x}}}", {"x": "<a href='x'>&`=\"</a>"}, escape=True) == (
        "&lt;a href&#x3D;&#x27;x&#x27;&gt;&amp;&#x60;&#x3D;&quot;&lt;/a&gt; <a href='x'>&`=\"</a>")


BAD_TEMPLATES = [
    ("{{#if x}}open", "{{#if}} on line 1 is not closed."),
    ("{{#each xs}}\n{{#if a}}\n{{/if}}", "{{#each}} on line 1 is not closed."),
    ("{{#if x}}\n{{/each}}", "{{/each}} on line 2 does not match {{#if}} of line 1."),
    ("text {{/if}}", "{{/if}} on line 1 closes no block."),
    ("{{else}}", "{{else}} on line 1 is outside any block."),
    ("{{#if a}}{{else}}{{else}}{{/if}}", "Second {{else}} on line 1 in {{#if}} of line 1."),
    ("a\n{{name", "Unclosed tag '{{' on line 2."),
    ("{{{raw}}", "Unclosed tag '{{' on line 1."),
    ("{{!-- never closed", "Unclosed tag '{{' on line 1."),
    ("{{}}", "Cannot parse '{{}}' on line 1."),
    ("{{a..b}}", "Invalid path 'a..b' on line 1."),
    ("{{foo.this}}", "Invalid path 'foo.this' on line 1."),
    ("{{upper name}}", 'Missing helper: "upper" (line 1).'),
    ("{{#upper name}}x{{/upper}}", 'Missing helper: "upper" (line 1).'),
    ("{{#if}}x{{/if}}", "#if requires exactly one argument (line 1)."),
    ("{{#if a b}}x{{/if}}", "#if requires exactly one argument (line 1)."),
    ("{{#each}}x{{/each}}", "#each requires exactly one argument (line 1)."),
    ("{{> missing}}", "The partial missing could not be found (line 1)."),
    ("{{#> layout}}x{{/layout}}", "Partial blocks ({{#> ...}}) are not supported (line 1)."),
    ("{{upper (lower x)}}", "Subexpressions are not supported (line 1)."),
    ("{{#*decorate}}x{{/decorate}}", "Only the inline decorator is supported (line 1)."),
]


@pytest.mark.parametrize("template, message", BAD_TEMPLATES)
def test_bad_templates(template, message):
    with pytest.raises(RenderError) as e:
        render(template, {"name": "n", "x": 1, "a": 1})
    assert (e.value.code, e.value.message) == (INVALID_TEMPLATE, message)
    assert str(e.value) == message


def test_nesting_is_bounded():
    assert render("{{#if a}}" * 100 + "x" + "{{/if}}" * 100, {"a": 1}) == "x"
    with pytest.raises(RenderError, match="Blocks nest more than 100 deep"):
        validate("{{#if a}}" * 102 + "{{/if}}" * 102)


def test_validate_parses_without_data():
    validate("{{#each xs}}{{this}}{{/each}}")
    with pytest.raises(RenderError):
        validate("{{#each xs}}")


# -- strict: SES's missing-attribute rendering failure ---------------------------

STRICT_MISSING = [
    ("Hi {{name}}, {{favoritecolor}}", {"name": "Jane", "favoritenumber": "10"}, "favoritecolor"),
    ("{{contact.firstName}}", {"contact": {}}, "contact.firstName"),
    ("{{contact.firstName}}", {}, "contact.firstName"),
    ("{{{raw}}}", {}, "raw"),
    ("{{n}}", {"n": None}, "n"),
    ("{{Name}}", {"name": "case matters"}, "Name"),
    ("{{#each xs}}{{name}}{{/each}}", {"xs": [{"name": "a"}, {}]}, "name"),
]


@pytest.mark.parametrize("template, data, attribute", STRICT_MISSING)
def test_strict_missing_attribute(template, data, attribute):
    with pytest.raises(RenderError) as e:
        render(template, data, strict=True)
    assert e.value.code == MISSING_RENDERING_ATTRIBUTE
    assert e.value.attribute == attribute
    assert e.value.message == f"Attribute '{attribute}' is not present in the rendering data."


STRICT_OK = [
    # Conditions and block arguments may be missing; a branch not taken is not checked.
    ("{{#if x}}{{x}}{{/if}}", {}, ""),
    ("{{#unless x}}none{{/unless}}", {}, "none"),
    ("{{#each xs}}{{name}}{{else}}empty{{/each}}", {}, "empty"),
    ("{{#with c}}{{n}}{{/with}}", {}, ""),
    ("{{#each xs}}{{@index}}{{/each}}", {"xs": [1]}, "0"),
    ("{{v}}{{w}}{{z}}", {"v": 0, "w": "", "z": False}, "0false"),
    ("{{lookup m k}}", {"m": {}}, ""),
]


@pytest.mark.parametrize("template, data, expected", STRICT_OK)
def test_strict_renders(template, data, expected):
    assert render(template, data, strict=True) == expected


# -- render_template: whole templates and TemplateData ---------------------------

V1 = {"TemplateName": "MyTemplate", "SubjectPart": "Greetings, {{name}}!",
      "TextPart": "Dear {{name}},\r\nYour favorite animal is {{favoriteanimal}}.",
      "HtmlPart": "<h1>Hello {{name}},</h1><p>Your favorite animal is {{favoriteanimal}}.</p>"}


def test_render_template_v1():
    data = json.dumps({"name": "John", "favoriteanimal": "Lion", "extra": 1})
    assert render_template(V1, data) == {
        "SubjectPart": "Greetings, John!",
        "TextPart": "Dear John,\r\nYour favorite animal is Lion.",
        "HtmlPart": "<h1>Hello John,</h1><p>Your favorite animal is Lion.</p>",
    }


def test_render_template_v2_and_absent_parts():
    template = {"TemplateName": "t", "Subject": "Hi {{name}}", "Html": "<b>{{name}}</b>", "Text": None}
    assert render_template(template, '{"name": "Ann"}') == {"Subject": "Hi Ann", "Html": "<b>Ann</b>"}


def test_render_template_missing_attribute():
    with pytest.raises(RenderError) as e:
        render_template(V1, json.dumps({"name": "John"}))
    assert (e.value.code, e.value.message) == (
        MISSING_RENDERING_ATTRIBUTE, "Attribute 'favoriteanimal' is not present in the rendering data.")
    assert render_template(V1, json.dumps({"name": "John"}), strict=False)["HtmlPart"] == (
        "<h1>Hello John,</h1><p>Your favorite animal is .</p>")


@pytest.mark.parametrize("data_json, message", [
    ("{not json", ("TemplateData is not valid JSON: Expecting property name enclosed in double quotes: "
                  "line 1 column 2 (char 1)")),
    ("", "TemplateData is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
    ("[1, 2]", "TemplateData must be a JSON object."),
    ('"text"', "TemplateData must be a JSON object."),
    ("null", "TemplateData must be a JSON object."),
])
def test_render_template_bad_data(data_json, message):
    with pytest.raises(RenderError) as e:
        render_template(V1, data_json)
    assert (e.value.code, e.value.message) == (INVALID_RENDERING_PARAMETER, message)


@pytest.mark.parametrize("template, expected", [
    ("Hi {{name}}", {"name"}),
    ("{{contact.firstName}} {{this.x}} {{@root.y.z}} {{{raw}}}", {"contact.firstName", "x", "y.z", "raw"}),
    ("{{#if a}}{{b}}{{else}}{{c}}{{/if}}", {"b", "c"}),
    ("{{#each xs}}{{name}}{{../title}}{{@index}}{{/each}}", {"title"}),
    ("{{#each xs as |x|}}{{x.name}}{{/each}}{{#with w}}{{k}}{{/with}}", set()),
    ('{{#*inline "p"}}{{who}}{{/inline}}{{> p}}', {"who"}),
    ("{{lookup a b}} {{this}} {{@index}}", set()),
])
def test_required_attributes(template, expected):
    assert required_attributes(template) == expected
