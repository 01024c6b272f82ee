"""A team's agenda, kept between meetings; `#topic next` walks it."""
