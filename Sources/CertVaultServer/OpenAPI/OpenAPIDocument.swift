/// The OpenAPI 3.1 description of the API, served at `/openapi.json`. Tests check it against the
/// route catalog (every route described, with its scope) and validate real responses against its
/// schemas (Tests/API/validate_responses.py); docs/api.md explains it for people.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "certvault",
  "version": "1",
  "description": "The certvault service: tenants, certificates, restore credentials, onboardings and rotations for Veeam Backup for Microsoft 365. Every error is application/problem+json with a stable code, a detail and a hint. See docs/api.md."
 },
 "servers": [
  {
   "url": "/"
  }
 ],
 "paths": {
  "/healthz": {
   "get": {
    "operationId": "health",
    "summary": "The process is alive.",
    "security": [],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Health"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    }
   }
  },
  "/readyz": {
   "get": {
    "operationId": "readiness",
    "summary": "The vault is open and VB365 answers (its check is cached for a few seconds).",
    "security": [],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Readiness"
        }
       }
      }
     },
     "503": {
      "description": "Not ready.",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Readiness"
        }
       }
      }
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "operationId": "openapi",
    "summary": "This document.",
    "security": [],
    "responses": {
     "200": {
      "description": "The OpenAPI document.",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  },
  "/v1/tenants": {
   "get": {
    "operationId": "listTenants",
    "summary": "The tenants the token covers, with their active certificate and onboarding state.",
    "parameters": [
     {
      "name": "expiringWithin",
      "in": "query",
      "required": false,
      "description": "Only tenants whose active certificate ends within this duration: 60d, 12h, 30m, 90s.",
      "schema": {
       "type": "string",
       "pattern": "^[0-9]{1,6}[dhms]?$"
      }
     },
     {
      "name": "state",
      "in": "query",
      "required": false,
      "description": "Only tenants in this onboarding state; 'none' for tenants never onboarded.",
      "schema": {
       "enum": [
        "awaiting-customer",
        "adding-organization",
        "onboarded",
        "expired",
        "failed",
        "none"
       ]
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "description": "Page size (default 100).",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     },
     {
      "name": "after",
      "in": "query",
      "required": false,
      "description": "The 'next' value of the previous page.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/TenantList"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "tenants:read"
      ]
     }
    ],
    "x-certvault-scope": "tenants:read"
   }
  },
  "/v1/tenants/{tenant}": {
   "get": {
    "operationId": "getTenant",
    "summary": "A tenant's generations (status, expiry, thumbprints, VB365 ids) and onboarding.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/TenantDetail"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "tenants:read"
      ]
     }
    ],
    "x-certvault-scope": "tenants:read"
   }
  },
  "/v1/tenants/{tenant}/certificates": {
   "post": {
    "operationId": "issueCertificate",
    "summary": "Issue and store the tenant's next generation.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "201": {
      "description": "Issued and stored.",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/IssuedCertificate"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "413": {
      "$ref": "#/components/responses/Problem413"
     },
     "415": {
      "$ref": "#/components/responses/Problem415"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "certificates:issue"
      ]
     }
    ],
    "x-certvault-scope": "certificates:issue",
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/IssueRequest"
       }
      }
     }
    }
   }
  },
  "/v1/tenants/{tenant}/credential": {
   "get": {
    "operationId": "getCredential",
    "summary": "The restore credential (PFX and password); every read is audited before the answer.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     },
     {
      "name": "purpose",
      "in": "query",
      "required": true,
      "description": "Why it is needed (into the audit log); one line, at most 200 characters.",
      "schema": {
       "type": "string",
       "minLength": 1,
       "maxLength": 200
      }
     },
     {
      "name": "generation",
      "in": "query",
      "required": false,
      "description": "A specific generation.",
      "schema": {
       "type": "integer",
       "minimum": 1
      }
     },
     {
      "name": "thumbprint",
      "in": "query",
      "required": false,
      "description": "The generation with this SHA-1 thumbprint.",
      "schema": {
       "type": "string",
       "pattern": "^[0-9A-Fa-f:]{40,59}$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Credential"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "credentials:read"
      ]
     }
    ],
    "x-certvault-scope": "credentials:read"
   }
  },
  "/v1/tenants/{tenant}/rotations": {
   "post": {
    "operationId": "startRotation",
    "summary": "Rotate the tenant's certificate in VB365 (with configureApplication, a device code for the customer first).",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "202": {
      "description": "Started (or carried on); see phase.",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Rotation"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "409": {
      "$ref": "#/components/responses/Problem409"
     },
     "413": {
      "$ref": "#/components/responses/Problem413"
     },
     "415": {
      "$ref": "#/components/responses/Problem415"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     },
     "502": {
      "$ref": "#/components/responses/Problem502"
     },
     "503": {
      "$ref": "#/components/responses/Problem503"
     }
    },
    "security": [
     {
      "bearer": [
       "certificates:rotate"
      ]
     }
    ],
    "x-certvault-scope": "certificates:rotate",
    "requestBody": {
     "required": false,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/RotationRequest"
       }
      }
     }
    }
   },
   "get": {
    "operationId": "getRotation",
    "summary": "The tenant's last rotation.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Rotation"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "certificates:rotate"
      ]
     }
    ],
    "x-certvault-scope": "certificates:rotate"
   }
  },
  "/v1/onboardings": {
   "post": {
    "operationId": "startOnboarding",
    "summary": "Start an onboarding: a device code for the customer's Global Administrator.",
    "parameters": [],
    "responses": {
     "202": {
      "description": "Started; the service finishes it once the customer has signed in.",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Onboarding"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "409": {
      "$ref": "#/components/responses/Problem409"
     },
     "413": {
      "$ref": "#/components/responses/Problem413"
     },
     "415": {
      "$ref": "#/components/responses/Problem415"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     },
     "502": {
      "$ref": "#/components/responses/Problem502"
     },
     "503": {
      "$ref": "#/components/responses/Problem503"
     }
    },
    "security": [
     {
      "bearer": [
       "onboarding:write"
      ]
     }
    ],
    "x-certvault-scope": "onboarding:write",
    "requestBody": {
     "required": true,
     "content": {
      "application/json": {
       "schema": {
        "$ref": "#/components/schemas/StartOnboardingRequest"
       }
      }
     }
    }
   },
   "get": {
    "operationId": "listOnboardings",
    "summary": "The onboardings the token covers.",
    "parameters": [
     {
      "name": "state",
      "in": "query",
      "required": false,
      "description": "Only onboardings in this state.",
      "schema": {
       "enum": [
        "awaiting-customer",
        "adding-organization",
        "onboarded",
        "expired",
        "failed"
       ]
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "description": "Page size (default 100).",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     },
     {
      "name": "after",
      "in": "query",
      "required": false,
      "description": "The 'next' value of the previous page.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OnboardingList"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "onboarding:read"
      ]
     }
    ],
    "x-certvault-scope": "onboarding:read"
   }
  },
  "/v1/onboardings/{tenant}": {
   "get": {
    "operationId": "getOnboarding",
    "summary": "One onboarding.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Onboarding"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "onboarding:read"
      ]
     }
    ],
    "x-certvault-scope": "onboarding:read"
   }
  },
  "/v1/onboardings/{tenant}/renew-code": {
   "post": {
    "operationId": "renewOnboardingCode",
    "summary": "A new device code for an onboarding whose code expired or failed.",
    "parameters": [
     {
      "name": "tenant",
      "in": "path",
      "required": true,
      "description": "The tenant id.",
      "schema": {
       "type": "string",
       "pattern": "^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$",
       "maxLength": 64
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Onboarding"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "404": {
      "$ref": "#/components/responses/Problem404"
     },
     "409": {
      "$ref": "#/components/responses/Problem409"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     },
     "502": {
      "$ref": "#/components/responses/Problem502"
     },
     "503": {
      "$ref": "#/components/responses/Problem503"
     }
    },
    "security": [
     {
      "bearer": [
       "onboarding:write"
      ]
     }
    ],
    "x-certvault-scope": "onboarding:write"
   }
  },
  "/v1/audit": {
   "get": {
    "operationId": "listAudit",
    "summary": "The vault's audit records after a sequence number (a token bound to tenants sees only theirs).",
    "parameters": [
     {
      "name": "after",
      "in": "query",
      "required": false,
      "description": "Records after this sequence number (default 0).",
      "schema": {
       "type": "integer",
       "minimum": 0,
       "maximum": 4503599627370496
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "description": "Page size (default 100).",
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 1000
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/AuditPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/Problem400"
     },
     "401": {
      "$ref": "#/components/responses/Problem401"
     },
     "403": {
      "$ref": "#/components/responses/Problem403"
     },
     "500": {
      "$ref": "#/components/responses/Problem500"
     }
    },
    "security": [
     {
      "bearer": [
       "audit:read"
      ]
     }
    ],
    "x-certvault-scope": "audit:read"
   }
  }
 },
 "components": {
  "schemas": {
   "Problem": {
    "type": "object",
    "properties": {
     "type": {
      "type": "string"
     },
     "title": {
      "type": "string"
     },
     "status": {
      "type": "integer"
     },
     "code": {
      "type": "string",
      "pattern": "^[a-z0-9-]+$"
     },
     "detail": {
      "type": "string"
     },
     "hint": {
      "type": "string"
     }
    },
    "required": [
     "type",
     "title",
     "status",
     "code",
     "detail"
    ],
    "additionalProperties": false
   },
   "Health": {
    "type": "object",
    "properties": {
     "status": {
      "const": "alive"
     }
    },
    "required": [
     "status"
    ],
    "additionalProperties": false
   },
   "Readiness": {
    "type": "object",
    "properties": {
     "status": {
      "enum": [
       "ready",
       "not-ready"
      ]
     },
     "vault": {
      "enum": [
       "ok",
       "failed"
      ]
     },
     "vb365": {
      "enum": [
       "ok",
       "failed",
       "not-configured"
      ]
     },
     "detail": {
      "type": "string"
     }
    },
    "required": [
     "status",
     "vault",
     "vb365"
    ],
    "additionalProperties": false
   },
   "Active": {
    "type": "object",
    "properties": {
     "generation": {
      "type": "integer",
      "minimum": 1
     },
     "notAfter": {
      "type": "string"
     },
     "thumbprint": {
      "type": "string"
     }
    },
    "required": [
     "generation",
     "notAfter",
     "thumbprint"
    ],
    "additionalProperties": false
   },
   "TenantListItem": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "generations": {
      "type": "integer",
      "minimum": 0
     },
     "active": {
      "$ref": "#/components/schemas/Active"
     },
     "onboardingState": {
      "type": "string"
     },
     "organizationId": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "generations"
    ],
    "additionalProperties": false
   },
   "TenantList": {
    "type": "object",
    "properties": {
     "tenants": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/TenantListItem"
      }
     },
     "next": {
      "type": "string"
     }
    },
    "required": [
     "tenants"
    ],
    "additionalProperties": false
   },
   "Generation": {
    "type": "object",
    "properties": {
     "generation": {
      "type": "integer",
      "minimum": 1
     },
     "created": {
      "type": "string"
     },
     "status": {
      "enum": [
       "active",
       "superseded",
       "retired"
      ]
     },
     "notAfter": {
      "type": "string"
     },
     "thumbprint": {
      "type": "string"
     },
     "kekId": {
      "type": "integer"
     },
     "vb365OrganizationId": {
      "type": "string"
     },
     "applicationId": {
      "type": "string"
     },
     "msid": {
      "type": "string"
     },
     "region": {
      "type": "string"
     },
     "onboardingState": {
      "type": "string"
     }
    },
    "required": [
     "generation",
     "created",
     "status",
     "notAfter",
     "thumbprint",
     "kekId"
    ],
    "additionalProperties": false
   },
   "Failure": {
    "type": "object",
    "properties": {
     "reason": {
      "type": "string"
     },
     "hint": {
      "type": "string"
     },
     "at": {
      "type": "string"
     }
    },
    "required": [
     "reason",
     "at"
    ],
    "additionalProperties": false
   },
   "Rotation": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "phase": {
      "enum": [
       "awaiting-customer",
       "updating",
       "done",
       "failed",
       "expired"
      ]
     },
     "generation": {
      "type": "integer"
     },
     "thumbprint": {
      "type": "string"
     },
     "previousGeneration": {
      "type": "integer"
     },
     "configureApplication": {
      "type": "boolean"
     },
     "userCode": {
      "type": "string"
     },
     "verificationUrl": {
      "type": "string"
     },
     "codeExpiresAt": {
      "type": "string"
     },
     "failure": {
      "$ref": "#/components/schemas/Failure"
     },
     "started": {
      "type": "string"
     },
     "updated": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "phase",
     "generation",
     "thumbprint",
     "configureApplication",
     "started",
     "updated"
    ],
    "additionalProperties": false
   },
   "Onboarding": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "state": {
      "enum": [
       "awaiting-customer",
       "adding-organization",
       "onboarded",
       "expired",
       "failed"
      ]
     },
     "displayName": {
      "type": "string"
     },
     "organizationName": {
      "type": "string"
     },
     "region": {
      "type": "string"
     },
     "userCode": {
      "type": "string"
     },
     "verificationUrl": {
      "type": "string"
     },
     "message": {
      "type": "string"
     },
     "codeExpiresAt": {
      "type": "string"
     },
     "generation": {
      "type": "integer"
     },
     "thumbprint": {
      "type": "string"
     },
     "organizationId": {
      "type": "string"
     },
     "applicationId": {
      "type": "string"
     },
     "msid": {
      "type": "string"
     },
     "reportedThumbprint": {
      "type": "string"
     },
     "failure": {
      "$ref": "#/components/schemas/Failure"
     },
     "rotation": {
      "$ref": "#/components/schemas/Rotation"
     },
     "created": {
      "type": "string"
     },
     "updated": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "state",
     "displayName",
     "organizationName",
     "region",
     "created",
     "updated"
    ],
    "additionalProperties": false
   },
   "OnboardingList": {
    "type": "object",
    "properties": {
     "onboardings": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Onboarding"
      }
     },
     "next": {
      "type": "string"
     }
    },
    "required": [
     "onboardings"
    ],
    "additionalProperties": false
   },
   "TenantDetail": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "active": {
      "$ref": "#/components/schemas/Active"
     },
     "generations": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Generation"
      }
     },
     "onboarding": {
      "$ref": "#/components/schemas/Onboarding"
     }
    },
    "required": [
     "tenant",
     "generations"
    ],
    "additionalProperties": false
   },
   "IssuedCertificate": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "generation": {
      "type": "integer",
      "minimum": 1
     },
     "thumbprint": {
      "type": "string"
     },
     "fingerprintSHA256": {
      "type": "string"
     },
     "serialNumber": {
      "type": "string"
     },
     "notBefore": {
      "type": "string"
     },
     "notAfter": {
      "type": "string"
     },
     "policy": {
      "type": "string"
     },
     "subject": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "generation",
     "thumbprint",
     "fingerprintSHA256",
     "serialNumber",
     "notBefore",
     "notAfter",
     "policy",
     "subject"
    ],
    "additionalProperties": false
   },
   "Credential": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "generation": {
      "type": "integer"
     },
     "status": {
      "type": "string"
     },
     "organizationId": {
      "type": [
       "string",
       "null"
      ]
     },
     "applicationId": {
      "type": [
       "string",
       "null"
      ]
     },
     "region": {
      "type": [
       "string",
       "null"
      ]
     },
     "msid": {
      "type": [
       "string",
       "null"
      ]
     },
     "thumbprint": {
      "type": "string"
     },
     "notAfter": {
      "type": "string"
     },
     "matchesVB365": {
      "type": "boolean"
     },
     "warnings": {
      "type": "array",
      "items": {
       "type": "string"
      }
     },
     "applicationCertificate": {
      "type": "string",
      "contentEncoding": "base64"
     },
     "applicationCertificatePassword": {
      "type": "string"
     }
    },
    "required": [
     "tenant",
     "generation",
     "status",
     "organizationId",
     "applicationId",
     "region",
     "msid",
     "thumbprint",
     "notAfter",
     "matchesVB365",
     "warnings",
     "applicationCertificate",
     "applicationCertificatePassword"
    ],
    "additionalProperties": false
   },
   "AuditRecord": {
    "type": "object",
    "properties": {
     "sequence": {
      "type": "integer"
     },
     "time": {
      "type": "string"
     },
     "actor": {
      "type": "string"
     },
     "action": {
      "type": "string"
     },
     "tenant": {
      "type": "string"
     },
     "generation": {
      "type": "integer"
     },
     "detail": {
      "type": "string"
     }
    },
    "required": [
     "sequence",
     "time",
     "actor",
     "action",
     "detail"
    ],
    "additionalProperties": false
   },
   "AuditPage": {
    "type": "object",
    "properties": {
     "records": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/AuditRecord"
      }
     },
     "next": {
      "type": "integer"
     },
     "verified": {
      "type": "boolean"
     }
    },
    "required": [
     "records",
     "verified"
    ],
    "additionalProperties": false
   },
   "IssueRequest": {
    "type": "object",
    "properties": {
     "policy": {
      "type": "string",
      "description": "An issuance policy's name (a NAME.toml in the service's policy folder, or default)."
     },
     "organization": {
      "type": "string",
      "description": "The value of {org} (default: the tenant id)."
     },
     "domain": {
      "type": "string",
      "description": "The value of {domain}."
     }
    },
    "required": [],
    "additionalProperties": false
   },
   "StartOnboardingRequest": {
    "type": "object",
    "properties": {
     "tenant": {
      "type": "string"
     },
     "organizationName": {
      "type": "string",
      "description": "The Microsoft 365 organization name, e.g. contoso.onmicrosoft.com."
     },
     "displayName": {
      "type": "string"
     },
     "region": {
      "type": "string",
      "description": "Worldwide, Germany, China, USDefence or USGovernment (default: the configuration's)."
     },
     "services": {
      "type": "string",
      "description": "exchange, sharepoint, teams, teamschats separated by commas or semicolons."
     },
     "applicationName": {
      "type": "string"
     },
     "msid": {
      "type": "string"
     },
     "providerFields": {
      "type": "object",
      "additionalProperties": {
       "type": "string"
      }
     }
    },
    "required": [
     "tenant",
     "organizationName"
    ],
    "additionalProperties": false
   },
   "RotationRequest": {
    "type": "object",
    "properties": {
     "configureApplication": {
      "type": "boolean",
      "default": true
     }
    },
    "required": [],
    "additionalProperties": false
   }
  },
  "responses": {
   "Problem400": {
    "description": "Bad input: invalid-json, invalid-body, unknown-field, invalid-tenant-id, invalid-query, purpose-required, unknown-policy, invalid-input, invalid-subject, missing-template-value.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem401": {
    "description": "token-missing or token-invalid (unknown, expired or revoked); with WWW-Authenticate: Bearer.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    },
    "headers": {
     "WWW-Authenticate": {
      "schema": {
       "type": "string"
      },
      "description": "Bearer ..."
     }
    }
   },
   "Problem403": {
    "description": "scope-missing: the token lacks the route's scope.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem404": {
    "description": "tenant-not-found (also for a tenant the token does not cover), onboarding-not-found, rotation-not-found, not-found.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem409": {
    "description": "onboarding-state: the onboarding or rotation is not in a state that allows this.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem413": {
    "description": "body-too-large: the body is larger than [limits] max_request_body_bytes.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem415": {
    "description": "unsupported-media-type: the body is not application/json.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem500": {
    "description": "internal-error, or a server-side problem such as a broken policy file (invalid-policy).",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem502": {
    "description": "VB365 refused or failed (vb365-rejected, vb365-authentication, vb365-protocol...).",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   },
   "Problem503": {
    "description": "vb365-not-configured, or the vault cannot be used.",
    "content": {
     "application/problem+json": {
      "schema": {
       "$ref": "#/components/schemas/Problem"
      }
     }
    }
   }
  },
  "securitySchemes": {
   "bearer": {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token (cvt_...) from 'certvault token create'."
   }
  }
 }
}
"""#
}
