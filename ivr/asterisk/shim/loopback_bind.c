/*
 * Huifang loopback guard, preloaded into the managed Asterisk (LD_PRELOAD).
 *
 * Why: everything Asterisk listens on is configured to 127.0.0.1, but res_pjsip also creates a DNS
 * resolver whose client sockets bind the wildcard address (0.0.0.0 and ::) on random ports. They
 * are never used (we dial IP literals only), yet they are sockets on every interface. This shim
 * turns any bind() to a wildcard address into a bind to loopback, so nothing of ours can receive
 * traffic from beyond the machine. It changes nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static bind_fn real_bind;
	if (!real_bind) {
		real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
	}
	if (addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in4;
		memcpy(&in4, addr, sizeof(in4));
		if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
			in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real_bind(fd, (const struct sockaddr *)&in4, sizeof(in4));
		}
	} else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, addr, sizeof(in6));
		if (memcmp(&in6.sin6_addr, &in6addr_any, sizeof(in6addr_any)) == 0) {
			in6.sin6_addr = in6addr_loopback;
			return real_bind(fd, (const struct sockaddr *)&in6, sizeof(in6));
		}
	}
	return real_bind(fd, addr, len);
}
