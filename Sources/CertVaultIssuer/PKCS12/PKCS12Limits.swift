internal import COpenSSL
internal import CCertVaultShims
internal import CertVaultCore

/// Bounds on the work a PFX from outside can ask for, checked before any key derivation runs.
///
/// A PKCS#12 file names its own iteration counts, for the integrity MAC and for each
/// password-based encryption inside; OpenSSL runs whatever is asked (2^31-1 MAC iterations
/// keep it busy for four minutes). So the counts are read first, and a file asking for more
/// than ``maximumIterations`` anywhere, or more than ``maximumTotalIterations`` in all, is
/// refused before its password is tried.
struct PKCS12Limits {
    /// The most iterations accepted for the MAC or any encryption. Far above what is written in
    /// practice: certvault's policy allows at most 600,000; OpenSSL writes 2,048, Windows 2,000,
    /// Java's keytool 10,000 (defaults). At this cap one derivation takes about a second.
    static let maximumIterations: Int64 = 10_000_000

    /// The most iterations of all parts together (MAC, containers, keys): a PFX from certvault
    /// needs at most 1,800,000 (three times the policy's 600,000).
    static let maximumTotalIterations: Int64 = 20_000_000

    /// The most password-protected parts (encrypted containers and shrouded keys) read from one
    /// file: a PFX with one key and its certificates has two or three.
    static let maximumProtectedParts = 16

    /// Nested safe-contents bags deeper than this are refused.
    static let maximumNesting = 4

    /// Checks the MAC's iteration count, every encrypted container's and every shrouded key's
    /// that can be seen without the password.
    /// Protected parts counted so far.
    private var parts = 0
    /// Iterations counted so far.
    private var total: Int64 = 0

    mutating func checkBeforeDecrypting(_ pkcs12: OpaquePointer) throws {
        var macIterations: UnsafePointer<ASN1_INTEGER>?
        PKCS12_get0_mac(nil, nil, nil, &macIterations, pkcs12)
        // An absent count means 1 (RFC 7292).
        if let macIterations { try check(try Self.value(macIterations), of: "integrity MAC") }

        guard let authsafes = PKCS12_unpack_authsafes(pkcs12) else { return }  // PKCS12_parse reports it
        defer { CCertVaultShims_sk_PKCS7_pop_free(authsafes) }
        for index in 0..<CCertVaultShims_sk_PKCS7_num(authsafes) {
            guard let content = CCertVaultShims_sk_PKCS7_value(authsafes, index) else { continue }
            switch OBJ_obj2nid(content.pointee.type) {
            case NID_pkcs7_encrypted:
                try countPart()
                guard let algorithm = content.pointee.d.encrypted?.pointee.enc_data?.pointee.algorithm else {
                    throw Self.damaged("an encrypted part names no algorithm")
                }
                try check(try Self.iterations(of: algorithm), of: "encrypted certificates")
            case NID_pkcs7_data:
                guard let bags = PKCS12_unpack_p7data(content) else { continue }
                defer { CCertVaultShims_sk_PKCS12_SAFEBAG_pop_free(bags) }
                try checkBags(bags, depth: 0)
            default:
                continue
            }
        }
    }

    /// After the MAC verified: decrypts each encrypted container (its iteration count already
    /// checked) and checks the shrouded keys inside it before anything decrypts them.
    ///
    /// - Parameter password: the password as C text, or nil for a PFX made without one.
    mutating func checkInsideEncryptedParts(_ pkcs12: OpaquePointer, password: UnsafePointer<CChar>?) throws {
        guard let authsafes = PKCS12_unpack_authsafes(pkcs12) else { return }
        defer { CCertVaultShims_sk_PKCS7_pop_free(authsafes) }
        for index in 0..<CCertVaultShims_sk_PKCS7_num(authsafes) {
            guard let content = CCertVaultShims_sk_PKCS7_value(authsafes, index),
                OBJ_obj2nid(content.pointee.type) == NID_pkcs7_encrypted
            else { continue }
            // A container this library context cannot decrypt is left to PKCS12_parse to report.
            guard let bags = PKCS12_unpack_p7encdata(content, password, password == nil ? 0 : -1) else {
                OpenSSLError.clearQueue()
                continue
            }
            defer { CCertVaultShims_sk_PKCS12_SAFEBAG_pop_free(bags) }
            try checkBags(bags, depth: 0)
        }
    }

    private mutating func checkBags(_ bags: OpaquePointer, depth: Int) throws {
        let maximumNesting = Self.maximumNesting
        guard depth <= maximumNesting else {
            throw Self.damaged("its bags are nested more than \(maximumNesting) deep")
        }
        for index in 0..<CCertVaultShims_sk_PKCS12_SAFEBAG_num(bags) {
            guard let bag = CCertVaultShims_sk_PKCS12_SAFEBAG_value(bags, index) else { continue }
            switch PKCS12_SAFEBAG_get_nid(bag) {
            case NID_pkcs8ShroudedKeyBag:
                try countPart()
                guard let shrouded = PKCS12_SAFEBAG_get0_pkcs8(bag) else { throw Self.damaged("a key bag is empty") }
                var algorithm: UnsafePointer<X509_ALGOR>?
                X509_SIG_get0(shrouded, &algorithm, nil)
                guard let algorithm else { throw Self.damaged("a key bag names no algorithm") }
                try check(try Self.iterations(of: algorithm), of: "private key's encryption")
            case NID_safeContentsBag:
                if let nested = PKCS12_SAFEBAG_get0_safes(bag) { try checkBags(nested, depth: depth + 1) }
            default:
                continue
            }
        }
    }

    /// The iteration count in a password-based encryption's parameters: PKCS#12's own PBE
    /// schemes and PBES1 (salt, iterations) or PBES2 with PBKDF2.
    private static func iterations(of algorithm: UnsafePointer<X509_ALGOR>) throws -> Int64 {
        var object: OpaquePointer?
        var type: Int32 = 0
        var parameter: UnsafeRawPointer?
        X509_ALGOR_get0(&object, &type, &parameter, algorithm)
        guard type == V_ASN1_SEQUENCE, let parameter else { throw damaged("an encryption has no parameters") }
        let sequence = parameter.assumingMemoryBound(to: ASN1_STRING.self)
        if OBJ_obj2nid(object) == NID_pbes2 {
            guard let pbes2 = decode(sequence, d2i_PBE2PARAM) else { throw damaged("PBES2 parameters do not parse") }
            defer { PBE2PARAM_free(pbes2) }
            guard let keyFunction = pbes2.pointee.keyfunc else { throw damaged("PBES2 names no key derivation") }
            guard OBJ_obj2nid(keyFunction.pointee.algorithm) == NID_id_pbkdf2 else {
                throw CertVaultError(
                    .pkcs12Unreadable,
                    "The PFX derives a key with something other than PBKDF2, which certvault does not read.",
                    hint: "Export it again with PBKDF2 (openssl pkcs12 -export, the default) or the 3DES profile.")
            }
            guard let kdf = keyFunction.pointee.parameter, kdf.pointee.type == V_ASN1_SEQUENCE,
                let kdfSequence = kdf.pointee.value.sequence,
                let pbkdf2 = decode(kdfSequence, d2i_PBKDF2PARAM)
            else { throw damaged("PBKDF2 parameters do not parse") }
            defer { PBKDF2PARAM_free(pbkdf2) }
            guard let count = pbkdf2.pointee.iter else { return 1 }
            return try value(count)
        }
        guard let pbe = decode(sequence, d2i_PBEPARAM) else { throw damaged("PBE parameters do not parse") }
        defer { PBEPARAM_free(pbe) }
        guard let count = pbe.pointee.iter else { return 1 }
        return try value(count)
    }

    private static func decode<T>(
        _ sequence: UnsafePointer<ASN1_STRING>,
        _ d2i: (UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, Int)
            -> UnsafeMutablePointer<T>?
    ) -> UnsafeMutablePointer<T>? {
        var cursor: UnsafePointer<UInt8>? = ASN1_STRING_get0_data(sequence)
        return d2i(nil, &cursor, Int(ASN1_STRING_length(sequence)))
    }

    private static func value(_ integer: UnsafePointer<ASN1_INTEGER>) throws -> Int64 {
        var result: Int64 = 0
        guard ASN1_INTEGER_get_int64(&result, integer) == 1 else {
            OpenSSLError.clearQueue()
            // Too large for 64 bits: certainly over the cap.
            return Int64.max
        }
        return result
    }

    private mutating func check(_ iterations: Int64, of what: String) throws {
        let maximumIterations = Self.maximumIterations, maximumTotalIterations = Self.maximumTotalIterations
        guard iterations >= 1 else { throw Self.damaged("the \(what) has an iteration count of \(iterations)") }
        guard iterations <= maximumIterations else {
            throw CertVaultError(
                .pkcs12Unreadable,
                "The PFX asks for \(iterations) iterations for its \(what), more than the \(maximumIterations) "
                    + "certvault accepts; it was not opened.",
                hint: "Files from certvault, OpenSSL, Windows and Java use far fewer. If you trust this file, export it "
                    + "again with fewer iterations (openssl pkcs12 -export -iter 600000).")
        }
        total += iterations
        guard total <= maximumTotalIterations else {
            throw CertVaultError(
                .pkcs12Unreadable,
                "The PFX asks for \(total) iterations in all, more than the \(maximumTotalIterations) "
                    + "certvault accepts; it was not opened.",
                hint: "Files from certvault, OpenSSL, Windows and Java use far fewer. If you trust this file, export it "
                    + "again with fewer iterations (openssl pkcs12 -export -iter 600000).")
        }
    }

    private mutating func countPart() throws {
        parts += 1
        guard parts <= Self.maximumProtectedParts else {
            throw Self.damaged("it has more than \(Self.maximumProtectedParts) password-protected parts")
        }
    }

    private static func damaged(_ why: String) -> CertVaultError {
        CertVaultError(.pkcs12Unreadable, "The PFX is not one certvault reads: \(why).",
                       hint: "Export it again from the tool that made it.")
    }
}
