#!/usr/bin/env python3
"""Transforms a SAM template into the CloudFormation template that
`sam deploy` would send, with the AWS SAM translator (the samtranslator
package that cfn-lint installs), and prints it as JSON.

    python3 scripts/sam-translate.py template.yaml [Name=value ...] > out.json

Local paths in CodeUri and DefinitionUri are replaced by S3 URIs first, as
`sam package` does on upload; the translator accepts nothing else. The
Name=value arguments are parameter values, for the few places the
translator resolves itself. Exits 1 with the translator's own messages
when it refuses the template, 2 on bad usage or a missing samtranslator.
"""

import json
import sys

try:
    import yaml
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator
except ImportError as e:  # pragma: no cover - reported to the caller
    print(f"samtranslator is not installed ({e}): it comes with cfn-lint (pip install cfn-lint)", file=sys.stderr)
    sys.exit(2)


class Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...)
    into their long forms, as CloudFormation does."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Fn::" + suffix: value}


Loader.add_multi_constructor("!", _intrinsic)


def _local_to_s3(props, key):
    value = props.get(key)
    if isinstance(value, str) and not value.startswith("s3://"):
        props[key] = "s3://symflow-package/" + value.strip("/")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        template = yaml.load(f, Loader=Loader)
    params = {}
    for arg in argv[2:]:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            print(f"argument {arg!r} is not Name=value", file=sys.stderr)
            return 2
        params[name] = value
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function":
            _local_to_s3(props, "CodeUri")
        elif res.get("Type") == "AWS::Serverless::StateMachine":
            _local_to_s3(props, "DefinitionUri")
    translator = Translator(managed_policy_map={}, sam_parser=Parser())
    try:
        out = translator.translate(sam_template=template, parameter_values=params)
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(cause.message, file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=1, sort_keys=True, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
