public import CertVaultCore

/// A text with `{variable}` placeholders, such as `"{org} VB365 Tenant"`.
///
/// The variables are a fixed set (``Variable``), so a typo in a policy file is caught when the
/// file is loaded, not when the hundredth tenant is issued.
public struct Template: Hashable, Sendable, CustomStringConvertible {
    /// A variable that a template may use.
    public enum Variable: String, CaseIterable, Hashable, Sendable {
        /// The tenant id (`contoso`).
        case tenant
        /// The organisation's display name (`Contoso Ltd`); defaults to the tenant id.
        case org
        /// The Microsoft 365 domain (`contoso.onmicrosoft.com`); has no default.
        case domain
        /// The issuance date in UTC, `YYYY-MM-DD`.
        case date
    }

    enum Part: Hashable, Sendable {
        case text(String)
        case variable(Variable)
    }

    /// The template as written.
    public let source: String
    let parts: [Part]

    /// The variables this template uses.
    public var variables: Set<Variable> {
        Set(parts.compactMap { if case .variable(let variable) = $0 { variable } else { nil } })
    }

    /// Parses a template.
    ///
    /// - Throws: a message (without location) when a `{` is not closed, a `}` stands alone, or a
    ///   variable is not one of ``Variable``.
    public init(_ source: String) throws(TemplateError) {
        self.source = source
        var parts: [Part] = []
        var text = ""
        var rest = Substring(source)
        while let character = rest.first {
            rest = rest.dropFirst()
            if character == "}" { throw TemplateError(message: "a '}' has no matching '{'") }
            guard character == "{" else {
                text.append(character)
                continue
            }
            guard let close = rest.firstIndex(of: "}") else { throw TemplateError(message: "a '{' is not closed") }
            let name = String(rest[..<close])
            guard let variable = Variable(rawValue: name) else {
                let known = Variable.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", ")
                throw TemplateError(message: "unknown variable '{\(name)}'; known variables are \(known)")
            }
            if !text.isEmpty { parts.append(.text(text)) }
            text = ""
            parts.append(.variable(variable))
            rest = rest[rest.index(after: close)...]
        }
        if !text.isEmpty { parts.append(.text(text)) }
        self.parts = parts
    }

    /// Fills in the variables.
    ///
    /// - Throws: ``CertVaultError`` `missing-template-value` naming the variable with no value.
    public func render(_ values: TemplateValues, for what: String) throws -> String {
        var out = ""
        for part in parts {
            switch part {
            case .text(let text): out += text
            case .variable(let variable):
                guard let value = values[variable], !value.isEmpty else {
                    throw CertVaultError(
                        .missingTemplateValue,
                        DisplayText.escapingControls(
                            "The policy's \(what) template '\(source)' needs {\(variable.rawValue)}, "
                                + "which was not given."),
                        hint: variable == .domain
                            ? "Pass --domain (or a 'domain' column in the CSV file)." : "Pass a value for \(variable.rawValue).")
                }
                out += value
            }
        }
        return out
    }

    public var description: String { source }
}

/// Why a template could not be parsed.
public struct TemplateError: Error, Hashable, Sendable {
    /// What is wrong with the template.
    public let message: String
}

/// The values a template is filled with for one tenant.
public struct TemplateValues: Hashable, Sendable {
    private var values: [Template.Variable: String]

    /// Values for one tenant; `org` defaults to the tenant id.
    public init(tenant: TenantID, org: String? = nil, domain: String? = nil, date: String) {
        values = [.tenant: tenant.rawValue, .org: org ?? tenant.rawValue, .date: date]
        if let domain { values[.domain] = domain }
    }

    /// The value of one variable, if it has one.
    public subscript(variable: Template.Variable) -> String? { values[variable] }
}
