internal import CertVaultVB365

/// `RESTExceptionInfo` error answers in the shape of the version served: v6 has `message` only;
/// v7's `errorCode` enum holds only `ProxyOffline`, so it is left out; v8 sets the codes it
/// defines (`ParameterValidationFailure`, `ResourceNotFound`, `OperationConflict`).
struct RESTErrors: Sendable {
    let version: VB365APIVersion

    func body(_ message: String, code: String?) -> JSONValue {
        var object: [String: JSONValue] = ["message": .string(message)]
        if version == .v8, let code { object["errorCode"] = .string(code) }
        return .object(object)
    }

    func answer(_ status: Int, _ message: String, code: String? = nil) -> VB365Answer {
        VB365Answer(status: status, body: body(message, code: code))
    }

    /// 400 `ParameterValidationFailure`.
    func invalid(_ message: String) -> VB365Answer {
        answer(400, message, code: "ParameterValidationFailure")
    }

    func refusal(_ message: String) -> VB365Refusal {
        VB365Refusal(answer: invalid(message))
    }

    func notFound(_ message: String = "The resource was not found.") -> VB365Answer {
        answer(404, message, code: "ResourceNotFound")
    }

    func methodNotAllowed() -> VB365Answer {
        answer(405, "The requested resource does not support this HTTP method.")
    }

    func unauthorized(_ message: String = "Authorization has been denied for this request.") -> VB365Answer {
        answer(401, message)
    }
}
