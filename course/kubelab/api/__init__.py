"""API machinery shared by the server and every client component: kinds, selectors, quantities, patches."""
