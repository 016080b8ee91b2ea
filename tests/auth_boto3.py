#!/usr/bin/python3
# tests/auth_boto3.py — SigV4 verification seen from boto3/botocore (run by
# tests/test_server_auth.c against a framelogd that has access keys).
#
#   auth_boto3.py ENDPOINT AK SK TEMP_AK TEMP_SK TEMP_TOKEN
#
# Each check prints "ok NAME" and the script exits 0 only if every check
# passed; a failed check raises (exit 1, with the reason on stderr).
# Clock skew is made by shifting botocore's clock (botocore.auth and its CRT
# signer read datetime.datetime.utcnow()), so the requests are the ones
# boto3 really sends, only dated elsewhere.
import datetime as real_dt
import hashlib
import http.client
import json
import sys
import time
import types
import urllib.parse

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

try:
    import botocore.crt.auth as crt_auth
except ImportError:
    crt_auth = None

EP, AK, SK, TAK, TSK, TTOK = sys.argv[1:7]
REGION = "us-east-1"
CFG = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=30)


def shift_clock(seconds):
    class DT(real_dt.datetime):
        @classmethod
        def utcnow(cls):
            return real_dt.datetime.utcnow() + real_dt.timedelta(seconds=seconds)

    shim = types.SimpleNamespace(datetime=DT, timedelta=real_dt.timedelta,
                                 timezone=real_dt.timezone)
    botocore.auth.datetime = shim
    if crt_auth:  # with awscrt installed botocore signs with the CRT signer
        crt_auth.datetime = shim


def client(service, ak=AK, sk=SK, token=None, region=REGION):
    return boto3.client(service, endpoint_url=EP, region_name=region, aws_access_key_id=ak,
                        aws_secret_access_key=sk, aws_session_token=token, config=CFG)


def refused(name, fn, code, msg_start=None):
    try:
        fn()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        msg = e.response["Error"].get("Message", "")
        assert got == code, "%s: expected %s, got %s: %s" % (name, code, got, msg)
        assert msg_start is None or msg.startswith(msg_start), "%s: message %r" % (name, msg)
        print("ok", name)
        return
    raise AssertionError("%s: succeeded, expected %s" % (name, code))


def ok(name, fn):
    fn()
    print("ok", name)


kv = client("kinesisvideo")
ok("right_key_kinesisvideo", lambda: kv.list_streams())
ok("right_key_kinesis", lambda: client("kinesis").list_streams())
refused("wrong_secret", lambda: client("kinesisvideo", sk=SK[:-1] + ("y" if SK[-1] == "x" else "x")).list_streams(),
        "InvalidSignatureException", "The request signature we calculated does not match")
refused("wrong_secret_kinesis", lambda: client("kinesis", sk="nope").list_streams(),
        "InvalidSignatureException", "The request signature we calculated does not match")
refused("unknown_key", lambda: client("kinesisvideo", ak="FLAKNOSUCHKEY0000000").list_streams(),
        "UnrecognizedClientException", "The security token included in the request is invalid")
refused("wrong_region", lambda: client("kinesisvideo", region="eu-west-1").list_streams(),
        "InvalidSignatureException", "Credential should be scoped to a valid region")

# skew: 4 minutes either way is within AWS's 5; 6 is not
for secs, good in ((-240, True), (240, True), (-360, False), (360, False)):
    shift_clock(secs)
    name = "skew_%+d_s" % secs
    if good:
        ok(name, lambda: client("kinesisvideo").list_streams())
    else:
        refused(name, lambda: client("kinesisvideo").list_streams(), "InvalidSignatureException",
                "Signature expired" if secs < 0 else "Signature not yet current")
shift_clock(0)

# a request signed now, replayed with its signature after the skew window:
# made here by signing it 6 minutes in the past and sending it unchanged
u = urllib.parse.urlparse(EP)


def send(req, body=None):
    body = req.body if body is None else body
    headers = dict(req.headers.items())
    headers["Content-Length"] = str(len(body))
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request(req.method, urllib.parse.urlparse(req.url).path, body=body, headers=headers)
    r = c.getresponse()
    return r.status, r.getheader("x-amzn-ErrorType"), json.loads(r.read() or b"{}")


def signed(body, when_s=0, ak=AK, sk=SK, token=None, service="kinesisvideo", path="/listStreams"):
    shift_clock(when_s)
    req = AWSRequest(method="POST", url=EP + path, data=body,
                     headers={"content-type": "application/json"})
    botocore.auth.SigV4Auth(Credentials(ak, sk, token), service, REGION).add_auth(req)
    shift_clock(0)
    return req


st, et, _ = send(signed(b"{}"))
assert st == 200, (st, et)
print("ok raw_signed_request")
st, et, body = send(signed(b"{}", when_s=-360))
assert st == 403 and et == "InvalidSignatureException", (st, et)
assert body["message"].startswith("Signature expired: "), body
print("ok replayed_after_skew")

# tampered body: signed over one body, sent with another
req = signed(b'{"MaxResults": 1}')
st, et, body = send(req, b'{"MaxResults": 2}')
assert st == 403 and et == "InvalidSignatureException", (st, et, body)
assert body["message"].startswith("The request signature we calculated does not match"), body
print("ok tampered_body")
# and with x-amz-content-sha256 naming the first body
req = signed(b'{"MaxResults": 1}')
req.headers["x-amz-content-sha256"] = hashlib.sha256(b'{"MaxResults": 1}').hexdigest()
st, et, body = send(req, b'{"MaxResults": 2}')
assert st == 403 and et == "InvalidSignatureException", (st, et, body)
print("ok tampered_body_content_sha256")

# wrong service in the scope
st, et, body = send(signed(b"{}", service="kinesis"))
assert st == 403 and et == "InvalidSignatureException", (st, et)
assert body["message"].startswith("Credential should be scoped to correct service"), body
print("ok wrong_service")

# temporary credentials: the session token is required and checked
ok("temporary_key", lambda: client("kinesisvideo", ak=TAK, sk=TSK, token=TTOK).list_streams())
refused("temporary_key_without_token",
        lambda: client("kinesisvideo", ak=TAK, sk=TSK).list_streams(),
        "UnrecognizedClientException")
refused("temporary_key_wrong_token",
        lambda: client("kinesisvideo", ak=TAK, sk=TSK, token=TTOK[:-1] + ("Y" if TTOK[-1] == "Z" else "Z")).list_streams(),
        "UnrecognizedClientException")


# presigned GetMedia: works until it expires, then 403
def presign(expires, ak=AK, sk=SK, token=None):
    req = AWSRequest(method="POST", url=EP + "/getMedia")
    botocore.auth.SigV4QueryAuth(Credentials(ak, sk, token), "kinesisvideo", REGION,
                                 expires=expires).add_auth(req)
    return req.url


def post_url(url, body):
    p = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(p.hostname, p.port, timeout=30)
    c.request("POST", p.path + "?" + p.query, body=body,
              headers={"content-type": "application/json"})
    r = c.getresponse()
    first = r.read(64) if r.status == 200 else r.read()
    return r.status, r.getheader("x-amzn-ErrorType"), first


gm = json.dumps({"StreamName": "boto-cam", "StartSelector": {"StartSelectorType": "EARLIEST"}})
url = presign(8)
st, et, first = post_url(url, gm)
assert st == 200 and first[:4] == b"\x1a\x45\xdf\xa3", (st, et, first)
print("ok presigned_getmedia")
url_tok = presign(60, TAK, TSK, TTOK)
st, et, first = post_url(url_tok, gm)
assert st == 200, (st, et, first)
print("ok presigned_getmedia_temporary")
# the same URL, used again and again: served until X-Amz-Expires (8 s)
# passes, then refused; waited for as a condition, with a generous bound
for _ in range(300):
    st, et, first = post_url(url, gm)
    if st != 200:
        break
    time.sleep(0.5)
assert st == 403 and et == "InvalidSignatureException", (st, et, first)
assert json.loads(first)["message"].startswith("Signature expired: "), first
print("ok presigned_getmedia_expired")
bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[:-1]
st, et, _ = post_url(bad, gm)
assert st == 403 and et == "InvalidSignatureException", (st, et)
print("ok presigned_getmedia_tampered")
