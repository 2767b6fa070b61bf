#!/usr/bin/env python3
"""Recover a certificate from a certvault vault without certvault.

Independent of certvault's code: it follows docs/vault-format.md and uses only PyNaCl
(pip install pynacl), libsodium's Python binding.

  certvault-recover.py VAULT TENANT [--generation N] (--key-file F | --passphrase-file F)
                       --out-pfx OUT.pfx --out-password OUT.txt

The password is written to a new file with mode 0600, never printed.
"""
import argparse
import base64
import hmac
import json
import os
import re
import struct
import sys

from nacl import bindings, hash as nacl_hash, pwhash

MAGIC = b"CVAULT"


def fail(message):
    sys.exit("certvault-recover: " + message)


def check_magic(data, kind, name):
    if len(data) < 8 or data[:6] != MAGIC or data[6:7] != kind:
        fail(f"{name} is not a certvault file of kind {kind.decode()}")
    if data[7] != 1:
        fail(f"{name} has format version {data[7]}; this script reads version 1")


def aead_open(ciphertext, aad, nonce, key, what):
    try:
        return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(ciphertext), bytes(aad), bytes(nonce), bytes(key))
    except Exception:
        fail(f"{what} failed authentication (wrong key or passphrase, or the file was altered)")


def derive(key, purpose):
    """BLAKE2b-256 keyed with `key` over an ASCII purpose label (docs/vault-format.md)."""
    return nacl_hash.blake2b(purpose.encode(), digest_size=32, key=key, encoder=RawEncoder)


class RawEncoder:
    @staticmethod
    def encode(data):
        return data

    @staticmethod
    def decode(data):
        return data


def root_key(vault, key_file, passphrase_file):
    if key_file:
        data = open(key_file, "rb").read()
        # docs/vault-format.md: the header line ends in LF; the key line may end in LF, CR LF or nothing.
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        header, _, encoded = data.partition(b"\n")
        if header != b"certvault-root-key-v1" or len(encoded) != 44:
            fail("not a certvault root key file")
        key = base64.b64decode(encoded, validate=True)
        if len(key) != 32:
            fail("the key file does not hold 32 bytes")
        return key
    data = open(os.path.join(vault, "root.passphrase"), "rb").read()
    check_magic(data, b"R", "root.passphrase")
    if data[8] != 1:
        fail("unknown key-derivation function")
    ops, mem = struct.unpack(">QQ", data[9:25])
    salt, nonce, wrapped = data[25:41], data[41:65], data[65:]
    passphrase = open(passphrase_file, "rb").read()
    if passphrase.endswith(b"\r\n"):
        passphrase = passphrase[:-2]
    elif passphrase.endswith(b"\n"):
        passphrase = passphrase[:-1]
    wrapping_key = pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
    return aead_open(wrapped, data[:65], nonce, wrapping_key, "root.passphrase")


def keyring(vault, root):
    data = open(os.path.join(vault, "keyring"), "rb").read()
    check_magic(data, b"K", "keyring")
    body, mac = data[:-32], data[-32:]
    expected = nacl_hash.blake2b(body, digest_size=32, key=derive(root, "certvault keyring mac key v1"), encoder=RawEncoder)
    if not hmac.compare_digest(expected, mac):
        fail("the keyring MAC does not verify (wrong key or passphrase, or the keyring was altered)")
    wrap_key = derive(root, "certvault keyring wrap key v1")
    data = body
    (count,) = struct.unpack(">I", data[8:12])
    keks, offset = {}, 12
    for _ in range(count):
        kek_id, created = struct.unpack(">Iq", data[offset:offset + 12])
        nonce, wrapped = data[offset + 12:offset + 36], data[offset + 36:offset + 84]
        keks[kek_id] = aead_open(wrapped, data[:8] + data[offset:offset + 12], nonce, wrap_key, f"keyring record {kek_id}")
        offset += 84
    if offset != len(data):
        fail("the keyring has trailing bytes")
    return keks


def read_entry(path, tenant, generation, keks):
    data = open(path, "rb").read()
    check_magic(data, b"E", path)
    if data[8] != 1:
        fail("unknown cipher")
    length = data[9]
    header_tenant = data[10:10 + length].decode("ascii")
    h_generation, _created = struct.unpack(">Iq", data[10 + length:22 + length])
    if header_tenant != tenant or h_generation != generation:
        fail(f"{path} belongs to {header_tenant} generation {h_generation}: it was moved")
    header, o = data[:22 + length], 22 + length
    (kek_id,) = struct.unpack(">I", data[o:o + 4])
    key_nonce, wrapped = data[o + 4:o + 28], data[o + 28:o + 76]
    o += 76
    if kek_id not in keks:
        fail(f"{path} names KEK {kek_id}, which the keyring does not hold")
    data_key = aead_open(wrapped, header + b"key" + struct.pack(">I", kek_id), key_nonce, keks[kek_id], "data key")
    payload_nonce = data[o:o + 24]
    (p_len,) = struct.unpack(">I", data[o + 24:o + 28])
    payload_ct = data[o + 28:o + 28 + p_len]
    if len(payload_ct) != p_len:
        fail(f"{path} is truncated")
    payload = aead_open(payload_ct, header + b"payload", payload_nonce, data_key, "payload")
    o += 28 + p_len
    revision = data[o:o + 4]
    metadata_nonce = data[o + 4:o + 28]
    (m_len,) = struct.unpack(">I", data[o + 28:o + 32])
    if o + 32 + m_len != len(data):
        fail(f"{path} has a malformed metadata block")
    metadata = json.loads(aead_open(data[o + 32:], header + b"metadata" + revision, metadata_nonce, data_key, "metadata"))
    fields, i = {}, 0
    while i < len(payload):
        tag = payload[i]
        (size,) = struct.unpack(">I", payload[i + 1:i + 5])
        fields[tag] = payload[i + 5:i + 5 + size]
        i += 5 + size
    return fields, metadata


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vault")
    parser.add_argument("tenant")
    parser.add_argument("--generation", type=int, help="default: the newest active generation")
    parser.add_argument("--key-file")
    parser.add_argument("--passphrase-file")
    parser.add_argument("--out-pfx", required=True)
    parser.add_argument("--out-password", required=True)
    args = parser.parse_args()
    if bool(args.key_file) == bool(args.passphrase_file):
        fail("give exactly one of --key-file and --passphrase-file")
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?", args.tenant) or ".." in args.tenant:
        fail("the tenant id must be 1-64 of a-z 0-9 . _ -, starting and ending with a letter or digit")
    for path, option in ((args.out_pfx, "--out-pfx"), (args.out_password, "--out-password")):
        if os.path.lexists(path):
            fail(f"{path} already exists; this script never overwrites a file: move it away or give another {option}")
    if not os.path.isfile(os.path.join(args.vault, "keyring")):
        fail(f"there is no vault at {args.vault} (no keyring file): give the vault folder, e.g. keys/vault")
    folder = os.path.join(args.vault, "tenants", args.tenant)
    if not os.path.isdir(folder):
        known = sorted(os.listdir(os.path.join(args.vault, "tenants"))) if os.path.isdir(os.path.join(args.vault, "tenants")) else []
        fail(f"tenant {args.tenant} is not in the vault {args.vault}"
             + (f" (it holds {len(known)} tenants, e.g. {', '.join(known[:5])})" if known else " (it holds no tenants)"))
    generations = sorted(int(n[:8]) for n in os.listdir(folder) if re.fullmatch(r"[0-9]{8}\.entry", n) and int(n[:8]) >= 1)
    if not generations:
        fail(f"tenant {args.tenant} has no entries")
    keks = keyring(args.vault, root_key(args.vault, args.key_file, args.passphrase_file))
    if args.generation:
        generation = args.generation
        if generation not in generations:
            fail(f"tenant {args.tenant} has no generation {generation}; it has {', '.join(map(str, generations))}")
        fields, metadata = read_entry(os.path.join(folder, f"{generation:08d}.entry"), args.tenant, generation, keks)
    else:
        for generation in reversed(generations):
            fields, metadata = read_entry(os.path.join(folder, f"{generation:08d}.entry"), args.tenant, generation, keks)
            if metadata.get("status") == "active":
                break
        else:
            fail(f"tenant {args.tenant} has no active generation; pass --generation N to recover a retired one")
    written = []
    for path, tag in ((args.out_pfx, 1), (args.out_password, 2)):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for done in written:
                os.unlink(done)
            fail(f"{path} already exists; this script never overwrites a file: move it away or choose another name")
        with os.fdopen(fd, "wb") as out:
            out.write(fields[tag])
        written.append(path)
    print(f"recovered {args.tenant} generation {generation} ({metadata.get('status')}, "
          f"thumbprint {fields.get(5, b'').decode()}) to {args.out_pfx}; password in {args.out_password}")


if __name__ == "__main__":
    try:
        main()
    except OSError as error:
        # A file that cannot be read or written: say which and why, without a traceback.
        fail(f"{error.filename or 'a file'}: {error.strerror}")
    except KeyboardInterrupt:
        sys.exit(130)
