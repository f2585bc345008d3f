"""The metrics endpoint behind --web.config.file: TLS, client certificates
and basic auth on the real agent, with certificates made by the openssl CLI
and curl as the client."""

import os
import shutil
import subprocess
import tempfile
import unittest
import warnings

from kvtest import Agent, in_written_order, wait_for

load_tests = in_written_order

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # the system's crypt(3): bcrypt hashes like the exporters'

MAKE_CERTS = r"""
set -e
ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'
for ca in ca rogue; do
  openssl req -x509 $ec -keyout $ca.key -out $ca.crt -subj /CN=kvscope-it-$ca -days 2
done
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
sign() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$1
  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 2 \
    -extfile $3.ext -out $1.crt; }
sign server ca server
sign client ca client
sign intruder rogue client
"""


class WebAgent(Agent):
    """The agent serving under a web config written into `d`."""

    def __init__(self, d, yaml, *extra):
        self.dir = d
        self.config = os.path.join(d, "web.yml")
        with open(self.config, "w") as f:
            f.write(yaml)
        # Watch nothing real: the endpoint is what is under test.
        super().__init__([os.getpid()], "--web.config.file=" + self.config, *extra, log_dir=d)

    def curl(self, path="/metrics", *args):
        """(curl exit status, HTTP status, body) for https://127.0.0.1:PORT/path."""
        r = subprocess.run(["curl", "-s", "--max-time", "10", "-w", "\n%{http_code}",
                            *args, "https://127.0.0.1:%d%s" % (self.port, path)],
                           capture_output=True, text=True, cwd=self.dir, timeout=30)
        body, _, code = r.stdout.rpartition("\n")
        return r.returncode, int(code or 0), body

    def wait_listening(self):
        def up():
            assert self.proc.poll() is None, "kvscope exited: " + self.logtext()
            return self.curl("/healthz", "-k")[0] == 0
        wait_for(up, 20, what="kvscope serving TLS")


def bcrypt(password):
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 6))


TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"


class WebSuite(unittest.TestCase):
    """The endpoint under a web config: TLS, basic auth, client certificates;
    one set of certificates in a directory of its own for all the tests."""

    @classmethod
    def setUpClass(cls):
        cls.d = tempfile.mkdtemp(prefix="kvscope-web-")
        cls.addClassCleanup(shutil.rmtree, cls.d, ignore_errors=True)
        subprocess.run(["sh", "-c", MAKE_CERTS], cwd=cls.d, check=True, capture_output=True,
                       timeout=60)

    def test_tls_and_basic_auth(self):
        d = self.d
        a = WebAgent(d, TLS + "basic_auth_users:\n  alice: '%s'\n" % bcrypt("s3cret"))
        try:
            a.wait_listening()
            rc, code, body = a.curl("/metrics", "--cacert", "ca.crt", "-u", "alice:s3cret")
            assert rc == 0 and code == 200, (rc, code)
            assert "kvscope_" in body, body[:200]
            rc, code, body = a.curl("/metrics", "--cacert", "ca.crt", "-u", "alice:wrong")
            assert code == 401 and "kvscope_" not in body, (code, body[:200])
            rc, code, body = a.curl("/metrics", "--cacert", "ca.crt")
            assert code == 401 and "kvscope_" not in body, (code, body[:200])
            # gzip inside TLS.
            r = subprocess.run(["curl", "-s", "--cacert", "ca.crt", "-u", "alice:s3cret",
                                "--compressed", "-D", "-", "-o", "/dev/null",
                                "https://127.0.0.1:%d/metrics" % a.port],
                               capture_output=True, text=True, cwd=d, timeout=30)
            assert "content-encoding: gzip" in r.stdout.lower(), r.stdout
            # Plain HTTP to the TLS port gets nothing.
            r = subprocess.run(["curl", "-s", "--max-time", "5", "-u", "alice:s3cret",
                                "http://127.0.0.1:%d/metrics" % a.port],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode != 0 and "kvscope_" not in r.stdout, (r.returncode, r.stdout)
            # Below the default minimum, TLS 1.2: no handshake.
            rc, code, _ = a.curl("/metrics", "--cacert", "ca.crt", "--tls-max", "1.1",
                                 "-u", "alice:s3cret")
            assert rc != 0 and code == 0, (rc, code)
        finally:
            a.stop()

    def test_client_certificates(self):
        d = self.d
        a = WebAgent(d, TLS + "  client_auth_type: RequireAndVerifyClientCert\n"
                     "  client_ca_file: ca.crt\n  min_version: TLS13\n")
        try:
            def up():
                assert a.proc.poll() is None, "kvscope exited: " + a.logtext()
                return a.curl("/healthz", "-k", "--cert", "client.crt", "--key", "client.key")[0] == 0
            wait_for(up, 20, what="kvscope serving TLS")
            rc, code, body = a.curl("/metrics", "--cacert", "ca.crt", "--cert", "client.crt",
                                    "--key", "client.key")
            assert rc == 0 and code == 200 and "kvscope_" in body, (rc, code)
            for args in ([], ["--cert", "intruder.crt", "--key", "intruder.key"]):
                rc, code, body = a.curl("/metrics", "--cacert", "ca.crt", *args)
                assert rc != 0 and code == 0 and "kvscope_" not in body, (args, rc, code)
            rc, code, _ = a.curl("/metrics", "--cacert", "ca.crt", "--cert", "client.crt",
                                 "--key", "client.key", "--tls-max", "1.2")
            assert rc != 0 and code == 0, ("TLS 1.2 against min_version TLS13", rc, code)
        finally:
            a.stop()

    def test_bad_config_refused(self):
        d = self.d
        a = WebAgent(d, "tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n")
        try:
            rc = a.proc.wait(20)
            assert rc != 0, "kvscope started with a bad web config"
            want = "%s:3: tls_server_config: unknown key" % a.config
            assert want in a.logtext(), a.logtext()
        finally:
            a.stop()


