#!/usr/bin/env python3
"""Writes Sources/CertVaultServer/OpenAPI/OpenAPIDocument.swift: the OpenAPI 3.1 description of
certvault's API. Edit the tables here and run `python3 Tests/API/make_openapi.py`; the Swift tests
check the result against the route catalog and validate real responses against it."""
import json
import os
string = {"type": "string"}
nstring = {"type": ["string", "null"]}
def obj(props, required=(), extra=False):
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": extra}
def ref(name): return {"$ref": "#/components/schemas/" + name}
tenant_pattern = "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
schemas = {
 "Problem": obj({"type": string, "title": string, "status": {"type": "integer"}, "code": {"type": "string", "pattern": "^[a-z0-9-]+$"},
                 "detail": string, "hint": string}, ["type", "title", "status", "code", "detail"]),
 "Health": obj({"status": {"const": "alive"}}, ["status"]),
 "Readiness": obj({"status": {"enum": ["ready", "not-ready"]}, "vault": {"enum": ["ok", "failed"]},
                   "vb365": {"enum": ["ok", "failed", "not-configured"]}, "detail": string}, ["status", "vault", "vb365"]),
 "Active": obj({"generation": {"type": "integer", "minimum": 1}, "notAfter": string, "thumbprint": string},
               ["generation", "notAfter", "thumbprint"]),
 "Drift": obj({"kind": {"enum": ["unknown-certificate", "other-generation", "organization-missing"]},
               "organizationId": string, "reportedThumbprint": string, "expectedThumbprint": string, "detectedAt": string},
              ["kind", "organizationId", "detectedAt"]),
 "Renewal": obj({"state": {"enum": ["current", "renewal-due", "awaiting-customer", "rotating", "rotation-refused", "expired"]},
                 "generation": {"type": "integer"}, "thumbprint": string, "notAfter": string, "daysLeft": {"type": "integer"},
                 "urgent": {"type": "boolean"}, "urgentAt": string, "dueSince": string,
                 "remindersSent": {"type": "array", "items": {"type": "integer", "minimum": 1}}, "invitationId": string,
                 "nextStep": string, "drift": ref("Drift")},
                ["state", "generation", "thumbprint", "notAfter", "daysLeft", "urgent", "remindersSent"]),
 "TenantListItem": obj({"tenant": string, "generations": {"type": "integer", "minimum": 0}, "active": ref("Active"),
                        "onboardingState": string, "organizationId": string, "renewal": ref("Renewal"),
                        "earliestActiveNotAfter": string}, ["tenant", "generations"]),
 "TenantList": obj({"tenants": {"type": "array", "items": ref("TenantListItem")}, "next": string}, ["tenants"]),
 "Generation": obj({"generation": {"type": "integer", "minimum": 1}, "created": string,
                    "status": {"enum": ["active", "superseded", "retired"]}, "notAfter": string, "thumbprint": string,
                    "kekId": {"type": "integer"}, "vb365OrganizationId": string, "applicationId": string, "msid": string,
                    "region": string, "onboardingState": string},
                   ["generation", "created", "status", "notAfter", "thumbprint", "kekId"]),
 "Failure": obj({"reason": string, "hint": string, "at": string}, ["reason", "at"]),
 "Rotation": obj({"tenant": string, "phase": {"enum": ["awaiting-customer", "updating", "done", "failed", "expired"]},
                  "generation": {"type": "integer"}, "thumbprint": string, "previousGeneration": {"type": "integer"},
                  "configureApplication": {"type": "boolean"}, "userCode": string, "verificationUrl": string,
                  "codeExpiresAt": string, "failure": ref("Failure"), "started": string, "updated": string},
                 ["tenant", "phase", "generation", "thumbprint", "configureApplication", "started", "updated"]),
 "Onboarding": obj({"tenant": string,
                    "state": {"enum": ["awaiting-customer", "adding-organization", "onboarded", "expired", "failed"]},
                    "displayName": string, "organizationName": string, "region": string, "userCode": string,
                    "verificationUrl": string, "message": string, "codeExpiresAt": string, "generation": {"type": "integer"},
                    "thumbprint": string, "organizationId": string, "applicationId": string, "msid": string,
                    "reportedThumbprint": string, "failure": ref("Failure"), "rotation": ref("Rotation"),
                    "renewal": ref("Renewal"), "created": string, "updated": string},
                   ["tenant", "state", "displayName", "organizationName", "region", "created", "updated"]),
 "OnboardingList": obj({"onboardings": {"type": "array", "items": ref("Onboarding")}, "next": string}, ["onboardings"]),
 "TenantDetail": obj({"tenant": string, "active": ref("Active"), "generations": {"type": "array", "items": ref("Generation")},
                      "onboarding": ref("Onboarding")}, ["tenant", "generations"]),
 "IssuedCertificate": obj({"tenant": string, "generation": {"type": "integer", "minimum": 1}, "thumbprint": string,
                           "fingerprintSHA256": string, "serialNumber": string, "notBefore": string, "notAfter": string,
                           "policy": string, "subject": string},
                          ["tenant", "generation", "thumbprint", "fingerprintSHA256", "serialNumber", "notBefore", "notAfter",
                           "policy", "subject"]),
 "Credential": obj({"tenant": string, "generation": {"type": "integer"}, "status": string, "organizationId": nstring,
                    "applicationId": nstring, "region": nstring, "msid": nstring, "thumbprint": string, "notAfter": string,
                    "matchesVB365": {"type": "boolean"}, "warnings": {"type": "array", "items": string},
                    "applicationCertificate": {"type": "string", "contentEncoding": "base64"},
                    "applicationCertificatePassword": string},
                   ["tenant", "generation", "status", "organizationId", "applicationId", "region", "msid", "thumbprint",
                    "notAfter", "matchesVB365", "warnings", "applicationCertificate", "applicationCertificatePassword"]),
 "AuditRecord": obj({"sequence": {"type": "integer"}, "time": string, "actor": string, "action": string, "tenant": string,
                     "generation": {"type": "integer"}, "detail": string}, ["sequence", "time", "actor", "action", "detail"]),
 "AuditPage": obj({"records": {"type": "array", "items": ref("AuditRecord")}, "next": {"type": "integer"},
                   "verified": {"type": "boolean"}}, ["records", "verified"]),
 "IssueRequest": obj({"policy": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$", "description": "An issuance policy's name (a NAME.toml in the service's policy folder, or default)."},
                      "organization": {"type": "string", "minLength": 1, "maxLength": 256, "description": "The value of {org} (default: the tenant id); plain text of the Basic Multilingual Plane."},
                      "domain": {"type": "string", "minLength": 1, "maxLength": 256, "description": "The value of {domain}; plain text of the Basic Multilingual Plane."}}),
 "StartOnboardingRequest": obj({"tenant": {"type": "string", "pattern": tenant_pattern, "maxLength": 64},
                                "organizationName": {"type": "string", "pattern": "^[a-z0-9-]+(\\.[a-z0-9-]+)+$", "maxLength": 253,
                                                     "description": "The Microsoft 365 organization name, e.g. contoso.onmicrosoft.com."},
                                "displayName": string, "region": {"enum": ["Worldwide", "Germany", "China", "USDefence", "USGovernment"], "description": "The tenant's Microsoft cloud (default: the configuration's)."},
                                "services": {"type": "string", "description": "exchange, sharepoint, teams, teamschats separated by commas or semicolons."},
                                "applicationName": string, "msid": string,
                                "providerFields": {"type": "object", "additionalProperties": {"type": "string"}}},
                               ["tenant", "organizationName"]),
 "RotationRequest": obj({"configureApplication": {"type": "boolean", "default": True}}),
}
# Invitations (docs/portal.md, "Invitations"): never a token or hash, except the url of a created one.
invitation_props = {"id": {"type": "string", "pattern": "^[0-9a-f]{16}$"}, "tenant": string, "kind": {"enum": ["onboarding", "renewal"]},
                    "displayName": string, "state": {"enum": ["active", "expired", "completed", "revoked"]},
                    "createdAt": string, "expiresAt": string, "createdBy": string, "completedAt": string, "revokedAt": string}
invitation_required = ["id", "tenant", "kind", "state", "createdAt", "expiresAt", "createdBy"]
schemas.update({
 "Invitation": obj(invitation_props, invitation_required),
 "InvitationList": obj({"invitations": {"type": "array", "items": ref("Invitation")}}, ["invitations"]),
 "CreatedInvitation": obj({**invitation_props,
                           "url": {"type": "string", "pattern": "/onboard/cvi_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$",
                                   "description": "The link for the customer: shown this once, never stored (the vault keeps a keyed hash)."},
                           "replaced": {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                                        "description": "The tenant's earlier live invitations of this kind, revoked by this one."}},
                          invitation_required + ["url", "replaced"]),
 "CreateInvitationRequest": obj({"tenant": {"type": "string", "pattern": tenant_pattern, "maxLength": 64},
                                 "displayName": {"type": "string", "minLength": 1, "maxLength": 120, "description": "The customer's name, shown on the pages."},
                                 "kind": {"enum": ["onboarding", "renewal"], "default": "onboarding"},
                                 "expiresInDays": {"type": "integer", "minimum": 1, "maximum": 90, "description": "Default: [portal] invitation_days."}},
                                ["tenant"]),
})
problem_text = {
 "400": "Bad input: invalid-json, invalid-body, unknown-field, invalid-tenant-id, invalid-query, purpose-required, unknown-policy, invalid-input, invalid-subject, missing-template-value.",
 "401": "token-missing or token-invalid (unknown, expired or revoked); with WWW-Authenticate: Bearer.",
 "403": "scope-missing: the token lacks the route's scope.",
 "404": "tenant-not-found (also for a tenant the token does not cover), onboarding-not-found, rotation-not-found, invitation-not-found (also for another tenant's invitation), not-found.",
 "409": "onboarding-state: the onboarding or rotation is not in a state that allows this; tenant-already-onboarded, tenant-not-onboarded (invitations).",
 "413": "body-too-large: the body is larger than [limits] max_request_body_bytes.",
 "415": "unsupported-media-type: the body is not application/json.",
 "500": "internal-error, or a server-side problem such as a broken policy file (invalid-policy).",
 "502": "VB365 refused or failed (vb365-rejected, vb365-authentication, vb365-protocol...).",
 "503": "vb365-not-configured, portal-not-configured, or the vault cannot be used.",
}
responses = {f"Problem{c}": {"description": t, "content": {"application/problem+json": {"schema": ref("Problem")}}} for c, t in problem_text.items()}
for c in ["401"]:
    responses["Problem401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer ..."}}
def ok(schema, status="200", desc="OK"):
    return {status: {"description": desc, "content": {"application/json": {"schema": ref(schema)}}}}
def problems(*codes): return {c: {"$ref": f"#/components/responses/Problem{c}"} for c in codes}
tenant_param = {"name": "tenant", "in": "path", "required": True, "description": "The tenant id.",
                "schema": {"type": "string", "pattern": tenant_pattern, "maxLength": 64}}
def q(name, desc, schema, required=False):
    return {"name": name, "in": "query", "required": required, "description": desc, "schema": schema}
limit = q("limit", "Page size (default 100).", {"type": "integer", "minimum": 1, "maximum": 1000})
after_tenant = q("after", "The 'next' value of the previous page.", {"type": "string", "pattern": tenant_pattern})
protected = ["400", "401", "403", "500"]
def body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": ref(schema)}}}
def op(opid, summary, scope, resp, params=(), request=None, extra=()):
    o = {"operationId": opid, "summary": summary, "parameters": list(params),
         "responses": {**resp, **problems(*sorted(set(protected + list(extra))))}}
    if scope:
        o["security"] = [{"bearer": [scope]}]
        o["x-certvault-scope"] = scope
    else:
        o["security"] = []
    if request: o["requestBody"] = request
    return o
paths = {
 "/healthz": {"get": {"operationId": "health", "summary": "The process is alive.", "security": [],
                      "responses": {**ok("Health"), **problems("500")}}},
 "/readyz": {"get": {"operationId": "readiness", "summary": "The vault is open and VB365 answers (its check is cached for a few seconds).",
                     "security": [], "responses": {**ok("Readiness"), "503": {"description": "Not ready.",
                     "content": {"application/json": {"schema": ref("Readiness")}}}, **problems("500")}}},
 "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.", "security": [],
                           "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
 "/v1/tenants": {"get": op("listTenants", "The tenants the token covers, with their active certificate and onboarding state.", "tenants:read",
     ok("TenantList"), [q("expiringWithin", "Only tenants with an active certificate that ends within this duration: 60d, 12h, 30m, 90s.",
                          {"type": "string", "pattern": "^[0-9]{1,6}[dhms]?$"}),
                        q("state", "Only tenants in this onboarding state; 'none' for tenants never onboarded.",
                          {"enum": ["awaiting-customer", "adding-organization", "onboarded", "expired", "failed", "none"]}),
                        limit, after_tenant])},
 "/v1/tenants/{tenant}": {"get": op("getTenant", "A tenant's generations (status, expiry, thumbprints, VB365 ids) and onboarding.", "tenants:read",
     ok("TenantDetail"), [tenant_param], extra=["404"])},
 "/v1/tenants/{tenant}/certificates": {"post": op("issueCertificate", "Issue and store the tenant's next generation.", "certificates:issue",
     ok("IssuedCertificate", "201", "Issued and stored."), [tenant_param], body("IssueRequest", False), ["404", "413", "415"])},
 "/v1/tenants/{tenant}/credential": {"get": op("getCredential", "The restore credential (PFX and password); every read is audited before the answer.", "credentials:read",
     ok("Credential"), [tenant_param, q("purpose", "Why it is needed (into the audit log); one line, at most 200 characters.", {"type": "string", "minLength": 1, "maxLength": 200}, True),
                        q("generation", "A specific generation.", {"type": "integer", "minimum": 1}),
                        q("thumbprint", "The generation with this SHA-1 thumbprint.", {"type": "string", "pattern": "^[0-9A-Fa-f:]{40,59}$"})],
     extra=["404"])},
 "/v1/tenants/{tenant}/rotations": {
     "post": op("startRotation", "Rotate the tenant's certificate in VB365 (with configureApplication, a device code for the customer first).", "certificates:rotate",
                ok("Rotation", "202", "Started (or carried on); see phase."), [tenant_param], body("RotationRequest", False), ["404", "409", "413", "415", "502", "503"]),
     "get": op("getRotation", "The tenant's last rotation.", "certificates:rotate", ok("Rotation"), [tenant_param], extra=["404"])},
 "/v1/onboardings": {
     "post": op("startOnboarding", "Start an onboarding: a device code for the customer's Global Administrator.", "onboarding:write",
                ok("Onboarding", "202", "Started; the service finishes it once the customer has signed in."), [], body("StartOnboardingRequest"),
                ["404", "409", "413", "415", "502", "503"]),
     "get": op("listOnboardings", "The onboardings the token covers.", "onboarding:read", ok("OnboardingList"),
               [q("state", "Only onboardings in this state.", {"enum": ["awaiting-customer", "adding-organization", "onboarded", "expired", "failed"]}),
                limit, after_tenant])},
 "/v1/onboardings/{tenant}": {"get": op("getOnboarding", "One onboarding.", "onboarding:read", ok("Onboarding"), [tenant_param], extra=["404"])},
 "/v1/onboardings/{tenant}/renew-code": {"post": op("renewOnboardingCode", "A new device code for an onboarding whose code expired or failed.", "onboarding:write",
     ok("Onboarding"), [tenant_param], extra=["404", "409", "502", "503"])},
 "/v1/invitations": {
     "post": op("createInvitation", "Create an invitation link for the customer portal; it replaces the tenant's live one of the same kind.", "onboarding:write",
                ok("CreatedInvitation", "201", "Created; the url is shown only in this answer."), [], body("CreateInvitationRequest"),
                ["404", "409", "413", "415", "503"]),
     "get": op("listInvitations", "The invitations of the tenants the token covers (never their links).", "onboarding:read", ok("InvitationList"),
               [q("tenant", "Only this tenant's invitations.", {"type": "string", "pattern": tenant_pattern}),
                q("state", "Only invitations in this state.", {"enum": ["active", "expired", "completed", "revoked"]})], extra=["503"])},
 "/v1/invitations/{id}": {"delete": op("revokeInvitation", "Revoke an invitation: its link stops working at once.", "onboarding:write",
     ok("Invitation"), [{"name": "id", "in": "path", "required": True, "description": "The invitation's id (16 hex digits).",
                         "schema": {"type": "string", "pattern": "^[0-9a-f]{16}$"}}], extra=["404", "503"])},
 "/v1/audit": {"get": op("listAudit", "The vault's audit records after a sequence number (a token bound to tenants sees only theirs).", "audit:read",
     ok("AuditPage"), [q("after", "Records after this sequence number (default 0).", {"type": "integer", "minimum": 0, "maximum": 4503599627370496}),
                       limit])},
}
doc = {
 "openapi": "3.1.0",
 "info": {"title": "certvault", "version": "1", "description": "The certvault service: tenants, certificates, restore credentials, onboardings, rotations and portal invitations for Veeam Backup for Microsoft 365. Every error is application/problem+json with a stable code, a detail and a hint. See docs/api.md."},
 "servers": [{"url": "/"}],
 "paths": paths,
 "components": {"schemas": schemas, "responses": responses,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token (cvt_...) from 'certvault token create'."}}},
}
text = json.dumps(doc, indent=1, sort_keys=False)
assert '"""#' not in text
swift = '''// Generated by Tests/API/make_openapi.py: edit that script, run it, commit both.

/// The OpenAPI 3.1 description of the API, served at `/openapi.json`. Tests check it against the
/// route catalog (every route described, with its scope) and validate real responses against its
/// schemas (Tests/API/validate_responses.py); docs/api.md explains it for people.
enum OpenAPIDocument {
    static let json = #"""
''' + text + '''
"""#
}
'''
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(root, 'Sources/CertVaultServer/OpenAPI/OpenAPIDocument.swift'), 'w') as f:
    f.write(swift)
