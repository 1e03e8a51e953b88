"""Aliyun (Alibaba Cloud) SMS through its official SDK, `alibabacloud_dysmsapi20170525`.

Configured by endpoint + credentials + sign name and a template code per (template, locale):

    [sms]
    provider = "aliyun"
    endpoint = "dysmsapi.aliyuncs.com"     # tests: "127.0.0.1:PORT" with protocol = "http"
    protocol = "https"
    access_key_id = "..."
    access_key_secret = "..."
    sign_name = "某某汽车金融"
    [sms.templates]
    "unreachable.zh-CN" = "SMS_123456789"

The template parameters sent are the outbox row's params (name, amount_due, due_date, loan_tail);
Aliyun renders its own registered copy of the text. `OutId` carries our idempotency key.
"""
from __future__ import annotations

import json

from .notifier import Delivery

# Aliyun error codes worth retrying (flow control, transient service errors)
RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isv.OUT_OF_SERVICE", "Throttling",
             "ServiceUnavailable", "InternalError"}


class AliyunSmsSender:
    name = "aliyun-sms"

    def __init__(self, *, endpoint: str, access_key_id: str, access_key_secret: str, sign_name: str,
                 templates: dict[str, str], protocol: str = "https", timeout_ms: int = 10000):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi import models as open_api_models
        if protocol not in ("https", "http"):
            raise ValueError("protocol must be https or http")
        if protocol == "http" and endpoint.split(":")[0] not in ("127.0.0.1", "localhost"):
            raise ValueError("plain http only to a loopback endpoint")
        config = open_api_models.Config(access_key_id=access_key_id, access_key_secret=access_key_secret,
                                        endpoint=endpoint, protocol=protocol, read_timeout=timeout_ms,
                                        connect_timeout=timeout_ms)
        self.client = Client(config)
        self.sign_name = sign_name
        self.templates = dict(templates)

    def send(self, message: dict) -> Delivery:
        from alibabacloud_dysmsapi20170525 import models as sms_models
        from alibabacloud_tea_util import models as util_models
        code = self.templates.get(f"{message['template']}.{message['locale']}")
        if not code:
            return Delivery(ok=False, error=f"no Aliyun template code for {message['template']}.{message['locale']}",
                            retryable=False)
        params = json.loads(message.get("params") or "{}")
        params.pop("lender", None)  # the sign name says who we are
        request = sms_models.SendSmsRequest(phone_numbers=message["to_address"], sign_name=self.sign_name,
                                            template_code=code, template_param=json.dumps(params, ensure_ascii=False),
                                            out_id=message["idempotency_key"][:64])
        try:
            resp = self.client.send_sms_with_options(request, util_models.RuntimeOptions(autoretry=False))
        except Exception as exc:  # the SDK raises TeaException / UnretryableException / network errors
            code = getattr(exc, "code", None)
            status = getattr(exc, "statusCode", None) or (getattr(exc, "data", None) or {}).get("statusCode")
            return Delivery(ok=False, status_code=status, error=f"{type(exc).__name__}: {code or exc}",
                            retryable=code in RETRYABLE or code is None or (status or 0) >= 500)
        body = resp.body
        text = json.dumps(body.to_map(), ensure_ascii=False)
        if body.code == "OK":
            return Delivery(ok=True, status_code=resp.status_code, provider_id=body.biz_id, response=text)
        return Delivery(ok=False, status_code=resp.status_code, response=text, error=f"{body.code}: {body.message}",
                        retryable=body.code in RETRYABLE)
