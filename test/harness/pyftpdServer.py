"""A real FTP server for the tests: pyftpdlib on 127.0.0.1, port 0, serving one folder.

Started by test/harness/ftpServer.ts. Prints {"port": N} once listening, then one JSON line per
command received ({"cmd": "REST", "arg": "1234"}; PASS arguments are never printed), so tests can
check what each source was asked for.
"""
import json
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

config = json.loads(sys.argv[1])
authorizer = DummyAuthorizer()
if config.get('user'):
    authorizer.add_user(config['user'], config['password'], config['root'], perm='elr')
else:
    authorizer.add_anonymous(config['root'], perm='elr')

class Handler(FTPHandler):
    def pre_process_command(self, line, cmd, arg):
        out = {'cmd': cmd, 'arg': '' if cmd == 'PASS' else arg}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()
        return super().pre_process_command(line, cmd, arg)


Handler.authorizer = authorizer
Handler.passive_ports = None
Handler.banner = 'pyftpdlib test server ready.'

server = FTPServer(('127.0.0.1', 0), Handler)
server.max_cons_per_ip = config.get('maxConsPerIp', 0)
sys.stdout.write(json.dumps({'port': server.address[1]}) + '\n')
sys.stdout.flush()
server.serve_forever(handle_exit=True)
