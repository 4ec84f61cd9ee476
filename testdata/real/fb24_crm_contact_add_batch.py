response = {
    'result': {
        'result': {
            'order0000000000': 58943
        },
        'result_error': [],
        'result_total': [],
        'result_next': [],
        'result_time': {
            'order0000000000': {
                'start': 1729696689.155923,
                'finish': 1729696689.250884,
                'duration': 0.09496116638183594,
                'processing': 0.09366798400878906,
                'date_start': '2024-10-23T18:18:09+03:00',
                'date_finish': '2024-10-23T18:18:09+03:00',
                'operating_reset_at': 1729697289,
                'operating': 0
            }
        }
    },
    'time': {
        'start': 1729696689.134943,
        'finish': 1729696689.251536,
        'duration': 0.1165928840637207,
        'processing': 0.09575891494750977,
        'date_start': '2024-10-23T18:18:09+03:00',
        'date_finish': '2024-10-23T18:18:09+03:00',
        'operating_reset_at': 1729697289,
        'operating': 0
    }
}
